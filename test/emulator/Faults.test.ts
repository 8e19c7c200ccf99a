/**
 * Fault injection: fixed and random latency, a rate of 5xx answers, which methods they hit, and
 * how they show in the counters.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Emulator } from "../../src/emulator/Emulator.ts"
import { botCall } from "./helpers.ts"

layer(Emulator.layer(), { excludeTestServices: true })("faults", (it) => {
  const call = (method: string, params?: Readonly<Record<string, unknown>>) =>
    Effect.flatMap(Emulator, (emulator) => botCall(emulator.url, emulator.token, method, params))

  const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const started = performance.now()
      const value = yield* effect
      return [value, performance.now() - started] as const
    })

  it.effect("adds fixed latency plus jitter to sending methods only", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const settings = yield* emulator.configureFaults({ latencyMs: 80, jitterMs: 40 })
      expect(settings).toEqual({ latencyMs: 80, jitterMs: 40, errorRate: 0, errorStatus: 500, methods: null })
      const [sent, sendTime] = yield* timed(call("sendMessage", { chat_id: 1, text: "slow" }))
      expect(sent.status).toBe(200)
      expect(sendTime).toBeGreaterThanOrEqual(78)
      expect(sendTime).toBeLessThan(1_000)
      const calls = yield* emulator.calls
      expect(calls.at(-1)!.durationMs).toBeGreaterThanOrEqual(79)
      expect((yield* call("getMe")).status).toBe(200)
      const getMe = (yield* emulator.calls).at(-1)!
      expect(getMe.method).toBe("getMe")
      expect(getMe.durationMs).toBeLessThan(40)
    }))

  it.effect("answers injected 5xx errors at the configured rate and status", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      yield* emulator.configureFaults({ errorRate: 1 })
      const failed = yield* call("sendMessage", { chat_id: 1, text: "x" })
      expect(failed.status).toBe(500)
      expect(failed.body).toEqual({ ok: false, error_code: 500, description: "Internal Server Error" })
      expect((yield* call("getMe")).status).toBe(200)
      expect(yield* emulator.messages(1)).toEqual([])

      yield* emulator.configureFaults({ errorStatus: 502, methods: ["getMe"] })
      const gateway = yield* call("getMe")
      expect(gateway.status).toBe(502)
      expect(gateway.body).toEqual({ ok: false, error_code: 502, description: "Bad Gateway" })
      expect((yield* call("sendMessage", { chat_id: 1, text: "x" })).status).toBe(200)

      yield* emulator.configureFaults({ errorRate: 0.5, errorStatus: 500, methods: null })
      const results = yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        (i) => call("sendMessage", { chat_id: 1000 + i, text: "maybe" }),
        { concurrency: 20 }
      )
      const errors = results.filter((r) => r.status === 500).length
      expect(errors).toBeGreaterThan(25)
      expect(errors).toBeLessThan(75)
      const counters = yield* emulator.counters
      expect(counters.serverErrors).toBe(errors + 2)
      expect(counters.errorsByCode["502"]).toBe(1)
    }))

  it.effect("reset restores the initial fault settings", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.configureFaults({ errorRate: 1 })
      yield* emulator.reset
      expect((yield* call("sendMessage", { chat_id: 1, text: "x" })).status).toBe(200)
    }))
})
