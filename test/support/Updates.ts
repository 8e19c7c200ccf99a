/** Building and posting Telegram updates in tests. */
import { Effect } from "effect"
import { Keys } from "../../streams/Keys.ts"
import { seenOf } from "./RecordingHandler.ts"
import type { Redis as IORedis } from "ioredis"

export const messageUpdate = (updateId: number, chatId: number, text = `message ${updateId}`) => ({
  update_id: updateId,
  message: {
    message_id: updateId,
    date: 1_760_000_000,
    chat: { id: chatId, type: chatId > 0 ? "private" : "group" },
    from: { id: Math.abs(chatId), is_bot: false, first_name: "Player", language_code: "en" },
    text
  }
})

export const post = (url: string, body: unknown, secret = "test-secret") =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/telegram/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })
    return { status: response.status, body: await response.text() }
  })

/** Per chat, the ascending update ids of `total` updates spread at random over `chats` chats. */
export const plan = (total: number, chats: number, firstUpdateId: number, firstChatId = 1000) => {
  const byChat = new Map<number, Array<number>>()
  for (let i = 0; i < total; i++) {
    const chat = firstChatId + Math.floor(Math.random() * chats)
    byChat.set(chat, [...(byChat.get(chat) ?? []), firstUpdateId + i])
  }
  return byChat
}

/** What each chat's handler saw, read from its durable session. */
export const seenByChat = (client: IORedis, prefix: string, partitions: number, chatIds: Iterable<number>) =>
  Effect.promise(async () => {
    const keys = Keys.make(prefix, partitions)
    const out = new Map<number, ReadonlyArray<number>>()
    for (const chatId of chatIds) {
      const json = await client.get(keys.chatState(keys.partitionOf(chatId), chatId))
      out.set(chatId, json === null ? [] : seenOf((JSON.parse(json) as { session: Record<string, unknown> }).session))
    }
    return out
  })

/** Total entries in every partition stream under `prefix`. */
export const streamLength = (client: IORedis, prefix: string, partitions: number) =>
  Effect.promise(async () => {
    const keys = Keys.make(prefix, partitions)
    let total = 0
    for (let p = 0; p < partitions; p++) total += await client.xlen(keys.stream(p))
    return total
  })

/**
 * Waits until every chat's durable session shows exactly `expected` (handlers report before their commit
 * lands), then returns what was seen, for the test to assert on.
 */
export const awaitSeen = (
  client: IORedis,
  prefix: string,
  partitions: number,
  expected: ReadonlyMap<number, ReadonlyArray<number>>,
  timeoutMs = 10_000
) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const seen = yield* seenByChat(client, prefix, partitions, expected.keys())
      const done = [...expected].every(([chatId, ids]) => JSON.stringify(seen.get(chatId)) === JSON.stringify(ids))
      if (done || Date.now() > deadline) return seen
      yield* Effect.sleep("50 millis")
    }
  })
