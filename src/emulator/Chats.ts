/**
 * The chats the emulator knows: any numeric chat id exists by default (positive ids are private
 * chats, ids below -10^12 supergroups, other negative ids groups); registered chats add a type,
 * a name and a `@username`, and a state that makes sending fail the way Telegram does (blocked,
 * deactivated, kicked, not found). Also keeps each bot's messages per chat, so message ids grow per
 * chat and edits and deletions can find what they change.
 */
import { Context, Effect, Layer } from "effect"
import {
  type BotApiError,
  botBlocked,
  botKicked,
  chatNotFound,
  groupMigrated,
  userDeactivated
} from "./BotApiError.ts"
import { Signal } from "./Signal.ts"
import type { Chat, ChatType, Message } from "./TelegramTypes.ts"

export type ChatState = "active" | "blocked" | "deactivated" | "kicked" | "not_found"

export interface ChatProfile {
  readonly id: number
  readonly type?: ChatType
  readonly username?: string
  readonly title?: string
  readonly firstName?: string
  readonly state?: ChatState
  /** A group upgraded to this supergroup: sending to the group answers 400 with `migrate_to_chat_id`. */
  readonly migratedTo?: number
}

export class Chats extends Context.Service<Chats, {
  readonly register: (profile: ChatProfile) => void
  readonly setState: (chatIds: ReadonlyArray<number>, state: ChatState) => void
  /** Finds the chat a `chat_id` names (a number or `@username`), or answers "chat not found". */
  readonly resolve: (chatId: number | string) => Chat | BotApiError
  /** The 403 Telegram answers for sending to this chat, if any. */
  readonly accessError: (chat: Chat) => BotApiError | undefined
  /** Reserves the next message id of a bot's chat. */
  readonly nextMessageId: (botId: number, chatId: number) => number
  /** Makes later ids of the chat exceed an id assigned elsewhere (an injected message). */
  readonly observeMessageId: (botId: number, chatId: number, messageId: number) => void
  readonly storeMessage: (botId: number, message: Message) => void
  readonly findMessage: (botId: number, chatId: number, messageId: number) => Message | undefined
  readonly deleteMessage: (botId: number, chatId: number, messageId: number) => boolean
  readonly reset: Effect.Effect<void>
}>()("tg-gateway/emulator/Chats") {
  static readonly layer = Layer.effect(Chats)(Effect.gen(function*() {
    const signal = yield* Signal
    let profiles = new Map<number, ChatProfile>()
    let usernames = new Map<string, number>()
    let histories = new Map<string, { lastId: number; messages: Map<number, Message> }>()

    const historyOf = (botId: number, chatId: number) => {
      const key = `${botId}:${chatId}`
      let history = histories.get(key)
      if (history === undefined) {
        history = { lastId: 0, messages: new Map() }
        histories.set(key, history)
      }
      return history
    }

    const chatOf = (id: number): Chat | BotApiError => {
      const profile = profiles.get(id)
      if (id === 0 || profile?.state === "not_found") return chatNotFound()
      return toChat(id, profile)
    }

    return {
      register: (profile) => {
        const previous = profiles.get(profile.id)
        if (previous?.username !== undefined) usernames.delete(previous.username.toLowerCase())
        profiles.set(profile.id, { ...previous, ...profile })
        if (profile.username !== undefined) usernames.set(profile.username.toLowerCase(), profile.id)
        signal.notify()
      },
      setState: (chatIds, state) => {
        for (const id of chatIds) profiles.set(id, { ...profiles.get(id), id, state })
        signal.notify()
      },
      resolve: (chatId) => {
        if (typeof chatId === "number") return chatOf(chatId)
        if (/^-?\d+$/.test(chatId)) return chatOf(Number(chatId))
        const id = chatId.startsWith("@") ? usernames.get(chatId.slice(1).toLowerCase()) : undefined
        return id === undefined ? chatNotFound() : chatOf(id)
      },
      accessError: (chat) => {
        const migratedTo = profiles.get(chat.id)?.migratedTo
        if (migratedTo !== undefined) return groupMigrated(migratedTo)
        switch (profiles.get(chat.id)?.state) {
          case "blocked":
            return chat.type === "private" ? botBlocked() : botKicked(chat.type)
          case "deactivated":
            return userDeactivated()
          case "kicked":
            return chat.type === "private" ? botBlocked() : botKicked(chat.type)
          case "not_found":
            return chatNotFound()
          default:
            return undefined
        }
      },
      nextMessageId: (botId, chatId) => ++historyOf(botId, chatId).lastId,
      observeMessageId: (botId, chatId, messageId) => {
        const history = historyOf(botId, chatId)
        history.lastId = Math.max(history.lastId, messageId)
      },
      storeMessage: (botId, message) => {
        historyOf(botId, message.chat.id).messages.set(message.message_id, message)
      },
      findMessage: (botId, chatId, messageId) => histories.get(`${botId}:${chatId}`)?.messages.get(messageId),
      deleteMessage: (botId, chatId, messageId) => histories.get(`${botId}:${chatId}`)?.messages.delete(messageId) ?? false,
      reset: Effect.sync(() => {
        profiles = new Map()
        usernames = new Map()
        histories = new Map()
        signal.notify()
      })
    }
  }))
}

/** The default type of a chat id, as Telegram allocates them. */
export const defaultChatType = (id: number): ChatType =>
  id > 0 ? "private" : id <= -1_000_000_000_000 ? "supergroup" : "group"

const toChat = (id: number, profile: ChatProfile | undefined): Chat => {
  const type = profile?.type ?? defaultChatType(id)
  const username = profile?.username === undefined ? {} : { username: profile.username }
  return type === "private"
    ? { id, type, first_name: profile?.firstName ?? `User ${id}`, ...username }
    : { id, type, title: profile?.title ?? `Chat ${id}`, ...username }
}
