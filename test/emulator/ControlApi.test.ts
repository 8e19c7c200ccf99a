/**
 * The HTTP control API under /_emulator: every endpoint answers `{ok, result}`, changes what the
 * Bot API does, and rejects bad input with 400.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Emulator } from "../../src/emulator/Emulator.ts"
import type { MessageLogEntry } from "../../src/emulator/Journal.ts"
import type { Update } from "../../src/emulator/TelegramTypes.ts"
import { botCall, controlCall, resultOf } from "./helpers.ts"

layer(Emulator.layer(), { excludeTestServices: true })("control API", (it) => {
  const control = (path: string, body?: unknown) => Effect.flatMap(Emulator, (e) => controlCall(e.url, path, body))
  const send = (chatId: number | string, text = "hi") =>
    Effect.flatMap(Emulator, (e) => botCall(e.url, e.token, "sendMessage", { chat_id: chatId, text }))

  it.effect("health, reset, limits and faults", () =>
    Effect.gen(function*() {
      expect((yield* control("/health")).body).toEqual({ ok: true, result: { status: "ok" } })
      expect((yield* control("/reset", {})).body).toEqual({ ok: true, result: true })
      const limits = yield* control("/limits", { chatPerSecond: 1, groupPerMinute: 20 })
      expect(resultOf(limits)).toEqual({
        globalPerSecond: null,
        chatPerSecond: 1,
        groupPerMinute: 20,
        maxInFlight: null,
        inFlightRetryAfter: 60
      })
      expect(resultOf(yield* control("/limits"))).toEqual(resultOf(limits))
      expect((yield* send(1)).status).toBe(200)
      expect((yield* send(1)).status).toBe(429)
      yield* control("/limits", { chatPerSecond: null })
      expect((yield* send(1)).status).toBe(200)
      const faults = yield* control("/faults", { latencyMs: 5, errorRate: 0 })
      expect(resultOf(faults)).toMatchObject({ latencyMs: 5, errorRate: 0 })
      expect(resultOf(yield* control("/faults"))).toMatchObject({ latencyMs: 5 })

      const bad = yield* control("/limits", { chatPerSecond: "fast" })
      expect(bad.status).toBe(400)
      expect(bad.body.ok).toBe(false)
      expect(bad.body.error).toContain("chatPerSecond")
      expect((yield* control("/faults", { errorRate: 2 })).status).toBe(400)
    }))

  it.effect("chat states, users, chats and floods", () =>
    Effect.gen(function*() {
      yield* control("/reset", {})
      yield* control("/users/block", { chatIds: [10] })
      yield* control("/users/deactivate", { chatIds: [11] })
      yield* control("/chat-state", { chatIds: [12], state: "not_found" })
      yield* control("/chats", { id: -100200300400, type: "supergroup", title: "Players", username: "players" })
      expect((yield* send(10)).body.description).toBe("Forbidden: bot was blocked by the user")
      expect((yield* send(11)).body.description).toBe("Forbidden: user is deactivated")
      expect((yield* send(12)).body.description).toBe("Bad Request: chat not found")
      expect(resultOf<{ chat: unknown }>(yield* send("@players")).chat).toEqual({
        id: -100200300400,
        type: "supergroup",
        title: "Players",
        username: "players"
      })
      yield* control("/chat-state", { chatIds: [-100200300400], state: "kicked" })
      expect((yield* send(-100200300400)).body.description).toBe("Forbidden: bot was kicked from the supergroup chat")

      yield* control("/flood", { count: 1, retryAfter: 3 })
      const flooded = yield* send(20)
      expect(flooded.body.parameters).toEqual({ retry_after: 3 })
      expect((yield* send(20)).status).toBe(200)
      expect((yield* control("/flood", { count: 1 })).status).toBe(400)
    }))

  it.effect("updates, messages, waits, calls, counters, files and bots", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* control("/reset", {})
      const injected = resultOf<ReadonlyArray<Update>>(yield* control("/updates", {
        updates: [{ message: { chat: { id: 5, type: "private" }, text: "a" } }, { message: { chat: { id: 5, type: "private" }, text: "b" } }]
      }))
      expect(injected.map((u) => u.update_id)).toEqual([1, 2])
      const polled = resultOf<ReadonlyArray<Update>>(yield* botCall(emulator.url, emulator.token, "getUpdates"))
      expect(polled).toEqual(injected)

      const waiting = yield* Effect.forkChild(control("/messages/5/wait?count=2&timeoutMs=5000"))
      yield* send(5, "one")
      yield* send(5, "two")
      const waited = resultOf<ReadonlyArray<MessageLogEntry>>(yield* Fiber.join(waiting))
      expect(waited.map((m) => m.text)).toEqual(["one", "two"])
      expect(resultOf<ReadonlyArray<MessageLogEntry>>(yield* control("/messages/5"))).toHaveLength(2)
      expect(resultOf<ReadonlyArray<MessageLogEntry>>(yield* control("/messages?chatId=6"))).toEqual([])
      const timedOut = yield* control("/messages/6/wait?count=1&timeoutMs=50")
      expect(timedOut.status).toBe(408)

      const calls = resultOf<ReadonlyArray<{ method: string }>>(yield* control("/calls?method=sendmessage"))
      expect(calls.map((c) => c.method)).toEqual(["sendMessage", "sendMessage"])
      const counters = resultOf<{ sentByMethod: Record<string, number>; minGapMsByChat: Record<string, number> }>(
        yield* control("/counters")
      )
      expect(counters.sentByMethod).toEqual({ getUpdates: 1, sendMessage: 2 })
      expect(counters.minGapMsByChat["5"]).toBeGreaterThan(0)

      const file = resultOf<{ file_id: string; file_path: string }>(
        yield* control("/files", { contentBase64: Buffer.from("bytes!").toString("base64"), filePath: "docs/x.bin" })
      )
      expect(file.file_path).toBe("docs/x.bin")
      expect(file).not.toHaveProperty("content")
      const download = yield* Effect.promise(() => fetch(`${emulator.url}/file/bot${emulator.token}/docs/x.bin`).then((r) => r.text()))
      expect(download).toBe("bytes!")

      const bots = resultOf<ReadonlyArray<{ id: number; webhook: { url: string } }>>(yield* control("/bots"))
      expect(bots.map((b) => b.id)).toContain(emulator.botId)
      expect(resultOf(yield* control("/webhook"))).toEqual({ url: "", has_custom_certificate: false, pending_update_count: 2 })
    }))
})
