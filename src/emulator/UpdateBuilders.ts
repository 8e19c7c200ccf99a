/**
 * Builders for the updates tests inject most: a user's text message, a `/command` (with its
 * `bot_command` entity), and a callback query from an inline button. The emulator fills in
 * `update_id`, `message_id` and `date`.
 */
import { defaultChatType } from "./Chats.ts"
import type { UpdateInput } from "./Control.ts"

export interface From {
  readonly id: number
  readonly first_name?: string
  readonly username?: string
  readonly language_code?: string
}

const user = (from: From) => ({ is_bot: false, first_name: `User ${from.id}`, ...from })

const chatOf = (chatId: number, from: From) =>
  defaultChatType(chatId) === "private"
    ? { id: chatId, type: "private", first_name: from.first_name ?? `User ${from.id}` }
    : { id: chatId, type: defaultChatType(chatId), title: `Chat ${chatId}` }

/** A text message from a user; in a private chat the sender defaults to the chat's user. */
export const textMessage = (options: {
  readonly chatId: number
  readonly text: string
  readonly from?: From
  readonly messageId?: number
}): UpdateInput => {
  const from = options.from ?? { id: options.chatId }
  return {
    message: {
      ...(options.messageId === undefined ? {} : { message_id: options.messageId }),
      from: user(from),
      chat: chatOf(options.chatId, from),
      text: options.text
    }
  }
}

/** `/command args` as Telegram delivers it, with the `bot_command` entity. */
export const command = (options: {
  readonly chatId: number
  readonly command: string
  readonly args?: string
  readonly from?: From
}): UpdateInput => {
  const name = options.command.startsWith("/") ? options.command : `/${options.command}`
  const text = options.args === undefined || options.args === "" ? name : `${name} ${options.args}`
  const update = textMessage({ chatId: options.chatId, text, ...(options.from === undefined ? {} : { from: options.from }) })
  const message = update["message"] as Readonly<Record<string, unknown>>
  return { message: { ...message, entities: [{ type: "bot_command", offset: 0, length: name.length }] } }
}

let callbackCounter = 0

/** A press on an inline button carrying `data`, optionally on a message of the bot. */
export const callbackQuery = (options: {
  readonly from: From
  readonly data: string
  readonly id?: string
  readonly chatId?: number
  readonly messageId?: number
}): UpdateInput => ({
  callback_query: {
    id: options.id ?? `emulator-query-${++callbackCounter}`,
    from: user(options.from),
    chat_instance: String(options.chatId ?? options.from.id),
    data: options.data,
    ...(options.messageId === undefined ? {} : {
      message: {
        message_id: options.messageId,
        chat: chatOf(options.chatId ?? options.from.id, options.from),
        date: 0
      }
    })
  }
})
