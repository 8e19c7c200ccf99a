/**
 * What an injected update needs before it is queued, and where it is queued: Telegram fills
 * `update_id` and a message's `message_id` and `date`, and serialises webhook delivery per chat
 * for messages and per user for queries.
 */
import { type Update, updateType } from "./TelegramTypes.ts"

export const messageFields = ["message", "edited_message", "channel_post", "edited_channel_post", "business_message"]

/** The delivery queue of an update: Telegram serialises messages per chat and queries per user. */
export const queueKey = (update: Update): string => {
  for (const field of messageFields) {
    const chat = asRecord(asRecord(update[field])?.["chat"])
    if (chat !== undefined && chat["id"] !== undefined) return `chat:${String(chat["id"])}`
  }
  const type = updateType(update)
  const from = type === undefined ? undefined : asRecord(asRecord(update[type])?.["from"])
  if (from !== undefined && from["id"] !== undefined) return `user:${String(from["id"])}`
  const chat = type === undefined ? undefined : asRecord(asRecord(update[type])?.["chat"])
  if (chat !== undefined && chat["id"] !== undefined) return `chat:${String(chat["id"])}`
  return `update:${update.update_id}`
}

/** Fills what Telegram always sets: `update_id`, and a message's `message_id` and `date`. */
export const completeUpdate = (
  raw: Readonly<Record<string, unknown>>,
  fill: {
    readonly updateId: () => number
    readonly date: number
    readonly messageId: (chatId: number) => number
    readonly observeMessageId: (chatId: number, messageId: number) => void
  }
): Update => {
  const { update_id: given, ...payload } = raw
  const update: Record<string, unknown> = {
    update_id: typeof given === "number" && Number.isSafeInteger(given) && given > 0 ? given : fill.updateId(),
    ...payload
  }
  for (const field of messageFields) {
    const message = asRecord(update[field])
    if (message === undefined) continue
    const completed: Record<string, unknown> = { ...message }
    const chatId = asRecord(message["chat"])?.["id"]
    if (typeof message["message_id"] === "number") {
      if (typeof chatId === "number") fill.observeMessageId(chatId, message["message_id"])
    } else if (typeof chatId === "number") {
      completed["message_id"] = fill.messageId(chatId)
    }
    if (typeof message["date"] !== "number") completed["date"] = fill.date
    update[field] = completed
  }
  return update as Update
}

export const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

export const asRecord = (value: unknown): Readonly<Record<string, unknown>> | undefined =>
  isRecord(value) ? value : undefined
