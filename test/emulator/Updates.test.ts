/**
 * getUpdates: long polling that returns as soon as an update is injected, offset confirmation,
 * limit, allowed_updates, one poller at a time, and the 409 while a webhook is set.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Emulator } from "../../src/emulator/Emulator.ts"
import type { Update } from "../../src/emulator/TelegramTypes.ts"
import * as UpdateBuilders from "../../src/emulator/UpdateBuilders.ts"
import { botCall, resultOf } from "./helpers.ts"

layer(Emulator.layer(), { excludeTestServices: true })("getUpdates", (it) => {
  const call = (method: string, params?: Readonly<Record<string, unknown>>) =>
    Effect.flatMap(Emulator, (emulator) => botCall(emulator.url, emulator.token, method, params))

  it.effect("a long poll waits for an injected update and returns it before its timeout", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const started = performance.now()
      const poll = yield* Effect.forkChild(call("getUpdates", { timeout: 20 }))
      yield* emulator.awaitInFlight("getUpdates")
      const injected = yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: 77, text: "hello" }))
      const updates = resultOf<ReadonlyArray<Update>>(yield* Fiber.join(poll))
      expect(performance.now() - started).toBeLessThan(5_000)
      expect(updates).toEqual([injected])
      expect(injected.update_id).toBe(1)
      expect(injected["message"]).toMatchObject({ message_id: 1, chat: { id: 77, type: "private" }, text: "hello" })
      expect(injected["message"]).toHaveProperty("date")
    }))

  it.effect("a poll without updates answers an empty list when its timeout expires", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const started = performance.now()
      expect(resultOf<ReadonlyArray<Update>>(yield* call("getUpdates", { timeout: 1 }))).toEqual([])
      expect(performance.now() - started).toBeGreaterThanOrEqual(950)
    }))

  it.effect("confirming an offset forgets earlier updates; limit bounds the batch", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      for (let i = 0; i < 5; i++) yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: 5, text: `m${i}` }))
      const ids = (response: ReadonlyArray<Update>) => response.map((u) => u.update_id)
      expect(ids(resultOf(yield* call("getUpdates", { limit: 2 })))).toEqual([1, 2])
      expect(ids(resultOf(yield* call("getUpdates")))).toEqual([1, 2, 3, 4, 5])
      expect(ids(resultOf(yield* call("getUpdates", { offset: 4 })))).toEqual([4, 5])
      expect(ids(resultOf(yield* call("getUpdates", { offset: 1 })))).toEqual([4, 5])
      expect(ids(resultOf(yield* call("getUpdates", { offset: 6 })))).toEqual([])
      expect((yield* emulator.webhookInfo()).pending_update_count).toBe(0)
      const next = yield* emulator.injectUpdate({ update_id: 100, message: { chat: { id: 5, type: "private" }, text: "x" } })
      expect(next.update_id).toBe(100)
      expect((yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: 5, text: "y" }))).update_id).toBe(101)
      expect(ids(resultOf(yield* call("getUpdates", { offset: -1 })))).toEqual([101])
    }))

  it.effect("an update injected twice with the same update_id is served twice, as a redelivery would be", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const update = { update_id: 42, message: { message_id: 7, chat: { id: 9, type: "private" }, date: 1, text: "dup" } }
      yield* emulator.injectUpdate(update)
      yield* emulator.injectUpdate(update)
      const served = resultOf<ReadonlyArray<Update>>(yield* call("getUpdates"))
      expect(served).toEqual([update, update])
      expect(resultOf(yield* call("getUpdates", { offset: 43 }))).toEqual([])
    }))

  it.effect("allowed_updates drops update types the bot did not ask for", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      expect(resultOf(yield* call("getUpdates", { allowed_updates: ["callback_query"] }))).toEqual([])
      yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: 5, text: "ignored" }))
      yield* emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: 5 }, data: "kept" }))
      const updates = resultOf<ReadonlyArray<Update>>(yield* call("getUpdates"))
      expect(updates.map((u) => Object.keys(u)[1])).toEqual(["callback_query"])
      expect((yield* emulator.counters).updates).toMatchObject({ injected: 1, dropped: 1, served: 1 })
      // chat_member is opt-in by default.
      yield* call("getUpdates", { offset: 100, allowed_updates: [] })
      yield* emulator.injectUpdate({ chat_member: { chat: { id: -1 }, from: { id: 2 } } })
      expect(resultOf(yield* call("getUpdates", { offset: 100 }))).toEqual([])
    }))

  it.effect("a second poller terminates the first with 409", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const first = yield* Effect.forkChild(call("getUpdates", { timeout: 20 }))
      yield* emulator.awaitInFlight("getUpdates")
      const second = yield* Effect.forkChild(call("getUpdates", { timeout: 20 }))
      const terminated = yield* Fiber.join(first)
      expect(terminated.status).toBe(409)
      expect(terminated.body.description).toBe(
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
      )
      yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: 1, text: "x" }))
      expect(resultOf<ReadonlyArray<Update>>(yield* Fiber.join(second))).toHaveLength(1)
    }))

  it.effect("getUpdates answers 409 while a webhook is set, and works again after deleteWebhook", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const waiting = yield* Effect.forkChild(call("getUpdates", { timeout: 20 }))
      yield* emulator.awaitInFlight("getUpdates")
      const set = yield* call("setWebhook", { url: "http://127.0.0.1:9/hook" })
      expect(set.body).toEqual({ ok: true, result: true, description: "Webhook was set" })
      const conflict = {
        ok: false,
        error_code: 409,
        description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
      }
      expect((yield* Fiber.join(waiting)).body).toEqual(conflict)
      const refused = yield* call("getUpdates")
      expect(refused.status).toBe(409)
      expect(refused.body).toEqual(conflict)
      const deleted = yield* call("deleteWebhook")
      expect(deleted.body).toEqual({ ok: true, result: true, description: "Webhook was deleted" })
      expect((yield* call("deleteWebhook")).body.description).toBe("Webhook is already deleted")
      expect((yield* call("getUpdates")).status).toBe(200)
    }))
})
