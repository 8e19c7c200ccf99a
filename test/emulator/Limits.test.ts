/**
 * Flood control: per-chat, per-group and global sliding windows never admit more than their
 * limit, refused calls answer 429 with `retry_after` and `Retry-After`, the in-flight cap, and
 * forced floods. Non-sending methods are never limited.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Emulator } from "../../src/emulator/Emulator.ts"
import { type ApiResponse, botCall } from "./helpers.ts"

layer(Emulator.layer(), { excludeTestServices: true })("limits", (it) => {
  const send = (chatId: number, text = "hi") =>
    Effect.flatMap(Emulator, (emulator) => botCall(emulator.url, emulator.token, "sendMessage", { chat_id: chatId, text }))

  const burst = (n: number, chatId: (i: number) => number) =>
    Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => send(chatId(i)), { concurrency: "unbounded" })

  const statuses = (responses: ReadonlyArray<ApiResponse>) => responses.map((r) => r.status).sort()

  it.effect("a private chat admits chatPerSecond messages per second and answers 429 with retry_after", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      yield* emulator.configureLimits({ chatPerSecond: 2 })
      const responses = yield* burst(10, () => 900)
      expect(statuses(responses)).toEqual([200, 200, ...Array(8).fill(429)])
      const refused = responses.find((r) => r.status === 429)!
      expect(refused.body).toEqual({
        ok: false,
        error_code: 429,
        description: "Too Many Requests: retry after 1",
        parameters: { retry_after: 1 }
      })
      expect(refused.headers.get("retry-after")).toBe("1")
      // Other chats are not affected by this chat's window.
      expect((yield* send(901)).status).toBe(200)
      const counters = yield* emulator.counters
      expect(counters.tooManyRequests).toBe(8)
      expect(counters.sentByMethod["sendMessage"]).toBe(3)
      expect(yield* emulator.messages(900)).toHaveLength(2)
    }))

  it.effect("groups are limited per minute, with retry_after up to 60 s", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      yield* emulator.configureLimits({ groupPerMinute: 3 })
      const responses = yield* burst(5, () => -700)
      expect(statuses(responses)).toEqual([200, 200, 200, 429, 429])
      const retryAfter = responses.find((r) => r.status === 429)!.body.parameters!.retry_after!
      expect(retryAfter).toBeGreaterThan(58)
      expect(retryAfter).toBeLessThanOrEqual(60)
      // Private chats are not subject to the group limit.
      expect(statuses(yield* burst(5, () => 700))).toEqual(Array(5).fill(200))
    }))

  it.effect("the global limit holds in every 1 s window under sustained load", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const limit = 25
      yield* emulator.configureLimits({ globalPerSecond: limit })
      const started = performance.now()
      let sent = 0
      // Offer about 4x the limit for a little over a second, each call to a fresh chat.
      while (performance.now() - started < 1_250) {
        yield* burst(10, (i) => 10_000 + sent + i)
        sent += 10
        yield* Effect.sleep(100)
      }
      const counters = yield* emulator.counters
      const ok = counters.sentByMethod["sendMessage"] ?? 0
      expect(counters.maxPerSecond).toBeLessThanOrEqual(limit)
      expect(ok).toBeGreaterThan(limit)
      expect(ok + counters.tooManyRequests).toBe(sent)
      // Independently of the counter, from the call log: any `limit + 1` successful calls span at
      // least a second (answer times stand in for admission times, hence the 10 ms tolerance; a
      // limiter letting one call too many through would show a gap of about 900 ms here).
      const answered = (yield* emulator.calls).filter((c) => c.ok).map((c) => c.receivedAt + c.durationMs)
      expect(answered).toHaveLength((yield* emulator.messages()).length)
      answered.sort((a, b) => a - b)
      for (let i = limit; i < answered.length; i++) expect(answered[i]! - answered[i - limit]!).toBeGreaterThan(990)
    }))

  it.effect("limits apply to sending methods only", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      yield* emulator.configureLimits({ globalPerSecond: 1, chatPerSecond: 1 })
      const calls = yield* Effect.forEach(
        Array.from({ length: 5 }, () => 0),
        () => Effect.flatMap(Emulator, (e) => botCall(e.url, e.token, "getUpdates")),
        { concurrency: "unbounded" }
      )
      expect(statuses(calls)).toEqual(Array(5).fill(200))
      expect((yield* send(1)).status).toBe(200)
      expect((yield* send(2)).status).toBe(429)
    }))

  it.effect("caps requests in flight", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      yield* emulator.configureLimits({ maxInFlight: 2, inFlightRetryAfter: 7 })
      yield* emulator.configureFaults({ latencyMs: 150 })
      const responses = yield* burst(5, (i) => 100 + i)
      expect(statuses(responses)).toEqual([200, 200, 429, 429, 429])
      expect(responses.find((r) => r.status === 429)!.body.parameters).toEqual({ retry_after: 7 })
      // Once the first calls are answered there is room again.
      expect((yield* send(200)).status).toBe(200)
    }))

  it.effect("forced floods answer 429 for the next N sending calls or for a duration", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      yield* emulator.flood({ count: 2, retryAfter: 5 })
      const first = yield* send(1)
      expect(first.body).toEqual({
        ok: false,
        error_code: 429,
        description: "Too Many Requests: retry after 5",
        parameters: { retry_after: 5 }
      })
      expect(first.headers.get("retry-after")).toBe("5")
      const getMe = yield* Effect.flatMap(Emulator, (e) => botCall(e.url, e.token, "getMe"))
      expect(getMe.status).toBe(200)
      expect((yield* send(1)).status).toBe(429)
      expect((yield* send(1)).status).toBe(200)

      yield* emulator.flood({ durationMs: 200, retryAfter: 2 })
      expect(statuses(yield* burst(3, (i) => 50 + i))).toEqual([429, 429, 429])
      yield* Effect.sleep(250)
      expect((yield* send(60)).status).toBe(200)
      expect((yield* emulator.counters).tooManyRequests).toBe(5)
    }))
})
