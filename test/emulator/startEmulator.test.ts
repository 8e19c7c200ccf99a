/**
 * The Promise API for plain scripts: start on an ephemeral port, drive it over HTTP, read the
 * logs and counters, and close it.
 */
import { expect, test } from "vitest"
import { startEmulator, telegramLimits } from "../../src/emulator/index.ts"

test("startEmulator serves the Bot API until closed", async () => {
  const emulator = await startEmulator({ limits: telegramLimits, botUsername: "bench_bot" })
  try {
    expect(emulator.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const me = await fetch(`${emulator.url}/bot${emulator.token}/getMe`).then((r) => r.json())
    expect(me).toMatchObject({ ok: true, result: { id: emulator.botId, username: "bench_bot" } })
    const send = () =>
      fetch(`${emulator.url}/bot${emulator.token}/sendMessage`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ chat_id: 9, text: "hi" })
      }).then((r) => r.status)
    expect(await Promise.all([send(), send(), send()])).toEqual(expect.arrayContaining([200, 429, 429]))
    const entries = await emulator.awaitMessages(9, 1)
    expect(entries[0]).toMatchObject({ chatId: 9, method: "sendMessage", message_id: 1, text: "hi" })
    expect((await emulator.counters()).tooManyRequests).toBe(2)
    const maxPerSecond = await emulator.waitUntil((view) => view.counters().maxPerSecond || undefined)
    expect(maxPerSecond).toBe(1)
  } finally {
    await emulator.close()
  }
  await expect(fetch(`${emulator.url}/bot${emulator.token}/getMe`)).rejects.toThrow()
})
