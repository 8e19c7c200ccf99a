/** Realistic Telegram updates for benchmarks, and cleanup of a benchmark's Redis keys. */
import { Redis } from "ioredis"

export const messageBody = (updateId: number, chats: number, base = 1_000_000) => {
  const chatId = base + (updateId % chats)
  return JSON.stringify({
    update_id: updateId,
    message: {
      message_id: updateId,
      date: Math.floor(Date.now() / 1000),
      chat: { id: chatId, type: "private", first_name: "Player" },
      from: { id: chatId, is_bot: false, first_name: "Player", language_code: "en" },
      text: "hello"
    }
  })
}

export const deleteKeys = async (redisUrl: string, prefix: string) => {
  const client = new Redis(redisUrl)
  let cursor = "0"
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
    if (keys.length > 0) await client.unlink(...keys)
    cursor = next
  } while (cursor !== "0")
  client.disconnect()
}
