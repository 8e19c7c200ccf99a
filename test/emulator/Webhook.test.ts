/**
 * Webhook delivery: the secret header, retries of non-2xx answers with backoff and the recorded
 * last error, one update at a time per chat (chats in parallel), and drop_pending_updates.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Emulator } from "../../src/emulator/Emulator.ts"
import type { WebhookInfo } from "../../src/emulator/TelegramTypes.ts"
import * as UpdateBuilders from "../../src/emulator/UpdateBuilders.ts"
import { botCall, resultOf, unusedPort, webhookReceiver } from "./helpers.ts"

const emulatorLayer = Emulator.layer({ webhook: { initialRetryDelayMs: 20, maxRetryDelayMs: 80, timeoutMs: 2_000 } })

layer(emulatorLayer, { excludeTestServices: true })("webhook delivery", (it) => {
  const call = (method: string, params?: Readonly<Record<string, unknown>>) =>
    Effect.flatMap(Emulator, (emulator) => botCall(emulator.url, emulator.token, method, params))

  it.effect("posts each update with the secret header and retries 5xx answers until one succeeds", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const receiver = yield* webhookReceiver((_, index) => ({ status: index < 2 ? 500 : 200 }))
      const set = yield* call("setWebhook", { url: receiver.url, secret_token: "s3cr3t_TOKEN-1", max_connections: 5 })
      expect(resultOf<boolean>(set)).toBe(true)
      const update = yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: 300, text: "ping" }))
      yield* receiver.received(3)
      yield* emulator.awaitPendingUpdates(0)

      expect(receiver.deliveries).toHaveLength(3)
      for (const delivery of receiver.deliveries) {
        expect(delivery.headers["x-telegram-bot-api-secret-token"]).toBe("s3cr3t_TOKEN-1")
        expect(delivery.headers["content-type"]).toContain("application/json")
        expect(delivery.update).toEqual(update)
      }
      // The second retry waits about twice as long as the first.
      const [a, b, c] = receiver.deliveries
      expect(b!.startedAt - a!.finishedAt).toBeGreaterThanOrEqual(15)
      expect(c!.startedAt - b!.finishedAt).toBeGreaterThanOrEqual(35)

      const info = resultOf<WebhookInfo>(yield* call("getWebhookInfo"))
      expect(info).toMatchObject({
        url: receiver.url,
        has_custom_certificate: false,
        pending_update_count: 0,
        max_connections: 5,
        last_error_message: "Wrong response from the webhook: 500 Internal Server Error"
      })
      expect(Math.abs(info.last_error_date! - Date.now() / 1000)).toBeLessThan(5)
      expect((yield* emulator.counters).updates).toMatchObject({ injected: 1, delivered: 1, deliveryFailures: 2 })
    }))

  it.effect("delivers one update at a time per chat, in order, with chats in parallel", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const receiver = yield* webhookReceiver(() => ({ status: 200, delayMs: 25 }))
      yield* call("setWebhook", { url: receiver.url })
      const chats = [401, 402, 403]
      for (let i = 0; i < 4; i++) {
        for (const chatId of chats) yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId, text: `${chatId}:${i}` }))
      }
      expect((yield* emulator.webhookInfo()).pending_update_count).toBeGreaterThan(0)
      yield* receiver.received(12)
      yield* emulator.awaitPendingUpdates(0)

      const chatOf = (d: (typeof receiver.deliveries)[number]) => (d.update["message"] as { chat: { id: number } }).chat.id
      for (const chatId of chats) {
        const own = receiver.deliveries.filter((d) => chatOf(d) === chatId)
        expect(own.map((d) => (d.update["message"] as { text: string }).text)).toEqual([0, 1, 2, 3].map((i) => `${chatId}:${i}`))
        for (let i = 1; i < own.length; i++) expect(own[i]!.startedAt).toBeGreaterThanOrEqual(own[i - 1]!.finishedAt)
      }
      // Different chats overlapped.
      const overlapping = receiver.deliveries.some((d, i) =>
        receiver.deliveries.some((e, j) => i !== j && e.startedAt < d.finishedAt && d.startedAt < e.finishedAt)
      )
      expect(overlapping).toBe(true)
    }))

  it.effect("records a connection error and drops pending updates on request", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const port = yield* unusedPort
      yield* call("setWebhook", { url: `http://127.0.0.1:${port}/unreachable` })
      yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: 1, text: "lost" }))
      const message = yield* emulator.waitUntil((view) => view.webhookInfo().last_error_message)
      expect(message).toBe("Connection refused")
      expect((yield* emulator.webhookInfo()).pending_update_count).toBe(1)
      const deleted = yield* call("deleteWebhook", { drop_pending_updates: true })
      expect(deleted.body.description).toBe("Webhook was deleted")
      expect((yield* emulator.webhookInfo()).pending_update_count).toBe(0)
    }))

  it.effect("validates the secret token", () =>
    Effect.gen(function*() {
      const bad = yield* call("setWebhook", { url: "https://example.com/hook", secret_token: "no spaces allowed" })
      expect(bad.status).toBe(400)
      expect(bad.body.description).toBe("Bad Request: bad webhook: secret token contains unallowed characters")
    }))
})
