/**
 * What every method that writes to a chat does the same way: find the chat (400 chat not found),
 * check the bot may write there (403 blocked, deactivated, kicked), pass the rate limits (429),
 * and record the successful call in the message log and the pacing counters. Admission is the
 * last check before a method succeeds, so every admitted call is a delivered one.
 */
import { Context, Effect, Layer } from "effect"
import { BotApiError } from "../BotApiError.ts"
import { Chats } from "../Chats.ts"
import { Journal } from "../Journal.ts"
import { Limits } from "../Limits.ts"
import { PreciseNow } from "../PreciseTime.ts"
import type { Chat } from "../TelegramTypes.ts"
import type { Call } from "./Method.ts"

export class Sending extends Context.Service<Sending, {
  /** The chat a `chat_id` names, if the bot may write to it. */
  readonly target: (chatId: number | string) => Effect.Effect<Chat, BotApiError>
  /** Passes the rate limits for a chat (`null` for inline messages: global limit only). */
  readonly admit: (call: Call, chatId: number | null) => Effect.Effect<void, BotApiError>
  readonly log: (call: Call, entry: { chatId: number; messageId: number; text?: string | undefined; replyMarkup?: unknown }) => void
}>()("tg-gateway/emulator/Sending") {
  static readonly layer = Layer.effect(Sending)(Effect.gen(function*() {
    const chats = yield* Chats
    const limits = yield* Limits
    const journal = yield* Journal
    const now = yield* PreciseNow

    return {
      target: (chatId) =>
        Effect.suspend(() => {
          const chat = chats.resolve(chatId)
          if (chat instanceof BotApiError) return Effect.fail(chat)
          const denied = chats.accessError(chat)
          return denied === undefined ? Effect.succeed(chat) : Effect.fail(denied)
        }),
      admit: (call, chatId) =>
        Effect.suspend(() => {
          const at = now()
          const refused = limits.admit(call.bot.id, chatId, at)
          if (refused !== undefined) return Effect.fail(refused)
          journal.recordSend(call.bot.id, chatId, at)
          return Effect.void
        }),
      log: (call, entry) =>
        journal.recordMessage({
          botId: call.bot.id,
          chatId: entry.chatId,
          method: call.method,
          message_id: entry.messageId,
          ...(entry.text === undefined ? {} : { text: entry.text }),
          ...(entry.replyMarkup === undefined ? {} : { reply_markup: entry.replyMarkup }),
          receivedAt: call.receivedAt,
          params: call.loggedParams
        })
    }
  }))
}
