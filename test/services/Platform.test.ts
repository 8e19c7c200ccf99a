/**
 * The Platform adapter. The reference implementation answers every method from the seeded tables (unknown users
 * are `UserNotFound`, bad inputs `InvalidRequest`, seeding again changes nothing). The HTTP implementation, against
 * a loopback backend serving the documented routes from those same tables, gives the very same answers with the
 * bearer token on every request, and maps a documented 404, a bare 404, a 500, a 401, a malformed body and a
 * backend slower than PLATFORM_TIMEOUT_MS to their reasons. `Platform.layer` picks by PLATFORM_API_URL.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Metric, Redacted } from "effect"
import * as Postgres from "../../layers/Postgres.ts"
import { Platform, type PlatformError } from "../../services/Platform.ts"
import { seed } from "../../src/cli/seed.ts"
import * as Metrics from "../../src/metrics.ts"
import { config, testDatabase } from "../support/Infra.ts"
import * as PlatformBackend from "../support/PlatformBackend.ts"

const token = "platform-test-token-0123456789"
const timeoutMs = 300
const users = ["demo-1", "demo-2", "demo-3", "demo-4", "demo-5"]
const today = Math.floor(Date.now() / 86_400_000) * 86_400_000
const hoursAgo = (hours: number) => new Date(today - hours * 3_600_000).toISOString()

const database = Layer.unwrap(Effect.map(testDatabase, (url) => Postgres.layerUrl(Redacted.make(url))))
const seeded = Layer.effectDiscard(seed).pipe(Layer.provideMerge(database))

/** Every answer the platform gives about the demo data, to compare two implementations or two moments. */
const everything = (platform: Platform["Service"]) =>
  Effect.all({
    users: Effect.forEach(users, (id) =>
      Effect.all([
        platform.profile(id), platform.balances(id), platform.kyc(id), platform.limits(id),
        platform.transactions(id, { limit: 3 }), platform.transactions(id, { limit: 100, before: `${id}-tx-03` }),
        platform.missions(id)
      ])),
    tournaments: platform.tournaments({}),
    running: platform.tournaments({ status: "running" }),
    boards: Effect.forEach(["t-spring-sprint", "t-weekly-race", "t-live-cup"], (id) => platform.leaderboard(id, 5))
  })

/** The HTTP implementation pointed at `url`, for the rest of the test. */
const httpPlatform = (url: string, env: Record<string, string> = {}) =>
  Effect.map(
    Layer.build(Platform.layerHttp.pipe(Layer.provide(config({
      PLATFORM_API_URL: url, PLATFORM_API_TOKEN: token, PLATFORM_TIMEOUT_MS: String(timeoutMs), ...env
    })))),
    Context.get(Platform)
  )

/** A loopback backend answering from the reference implementation. */
const backend = Effect.gen(function*() {
  return yield* PlatformBackend.start(yield* Platform, { token, slowMs: timeoutMs + 1000 })
})

const reason = (error: PlatformError) => error.reason._tag

layer(Platform.layerReference.pipe(Layer.provideMerge(seeded)), { excludeTestServices: true })("Platform", (it) => {
  it.effect("reference: answers every method from the seeded tables", () =>
    Effect.gen(function*() {
      const platform = yield* Platform
      assert.deepStrictEqual(yield* platform.profile("demo-1"), {
        userId: "demo-1", displayName: "Giulia R.", language: "it", country: "IT", status: "active",
        createdAt: "2024-03-14T18:22:05.000Z"
      })
      assert.strictEqual((yield* platform.profile("demo-5")).status, "closed")
      assert.deepStrictEqual(yield* platform.balances("demo-1"), [{ currency: "EUR", amount: "125.50" }])
      assert.deepStrictEqual(yield* platform.balances("demo-5"), [])
      assert.deepStrictEqual(yield* platform.kyc("demo-3"), { level: 3, status: "verified" })
      assert.deepStrictEqual(yield* platform.kyc("demo-5"), { level: 0, status: "none" })
      assert.deepStrictEqual(yield* platform.limits("demo-1"), {
        depositDaily: { currency: "EUR", amount: "100.00" }, depositWeekly: { currency: "EUR", amount: "500.00" },
        depositMonthly: { currency: "EUR", amount: "1500.00" }, lossDaily: { currency: "EUR", amount: "50.00" },
        sessionMinutes: 120, selfExcludedUntil: null, realityCheckMinutes: 60
      })
      assert.strictEqual((yield* platform.limits("demo-4")).selfExcludedUntil, new Date(today + 180 * 86_400_000).toISOString())
      assert.isTrue(Object.values(yield* platform.limits("demo-3")).every((v) => v === null))

      const first = yield* platform.transactions("demo-1", { limit: 3 })
      assert.deepStrictEqual(first.map((t) => t.id), ["demo-1-tx-08", "demo-1-tx-07", "demo-1-tx-06"])
      assert.deepStrictEqual(first[1], {
        id: "demo-1-tx-07", kind: "withdrawal", amount: { currency: "EUR", amount: "40.00" }, status: "pending",
        createdAt: hoursAgo(20)
      })
      const second = yield* platform.transactions("demo-1", { limit: 3, before: first[2]!.id })
      assert.deepStrictEqual(second.map((t) => t.id), ["demo-1-tx-05", "demo-1-tx-04", "demo-1-tx-03"])
      const last = yield* platform.transactions("demo-1", { limit: 100, before: "demo-1-tx-03" })
      assert.deepStrictEqual(last.map((t) => t.id), ["demo-1-tx-02", "demo-1-tx-01"])

      const tournaments = yield* platform.tournaments({})
      assert.deepStrictEqual(tournaments.map((t) => [t.id, t.status]), [
        ["t-spring-sprint", "finished"], ["t-weekly-race", "running"], ["t-live-cup", "upcoming"]
      ])
      assert.deepStrictEqual(tournaments[1]!.prizePool, { currency: "EUR", amount: "1000.00" })
      assert.deepStrictEqual(tournaments[2]!.prizePool, null)
      assert.deepStrictEqual((yield* platform.tournaments({ status: "upcoming" })).map((t) => t.id), ["t-live-cup"])
      assert.deepStrictEqual(yield* platform.leaderboard("t-weekly-race", 4), [
        { rank: 1, alias: "AceHigh", score: 845.5 }, { rank: 1, alias: "Rocket9", score: 845.5 },
        { rank: 3, alias: "LuckyFox", score: 512 }, { rank: 4, alias: "Tigre77", score: 310 }
      ])
      assert.deepStrictEqual(yield* platform.leaderboard("t-live-cup", 10), [])

      const missions = yield* platform.missions("demo-1")
      assert.deepStrictEqual(missions.map((m) => m.id), ["m-spin-50", "m-deposit-streak"], "the expired one is left out")
      assert.deepInclude(missions[0]!, { progress: 32, target: 50, reward: "10 free spins" })
    }))

  it.effect("reference: unknown users and tournaments are not found, bad inputs are refused", () =>
    Effect.gen(function*() {
      const platform = yield* Platform
      const unknownUser: ReadonlyArray<Effect.Effect<unknown, PlatformError>> = [
        platform.profile("nobody"), platform.balances("nobody"), platform.kyc("nobody"), platform.limits("nobody"),
        platform.transactions("nobody", { limit: 10 }), platform.missions("nobody")
      ]
      for (const call of unknownUser) {
        const error = yield* Effect.flip(call)
        assert.deepInclude(error.reason, { _tag: "UserNotFound", userId: "nobody" })
        assert.isFalse(error.retryable)
      }
      assert.strictEqual(reason(yield* Effect.flip(platform.leaderboard("t-nope", 10))), "NotFound")
      const refused: ReadonlyArray<Effect.Effect<unknown, PlatformError>> = [
        platform.profile(""), platform.kyc("a b"), platform.balances("x".repeat(129)),
        platform.transactions("demo-1", { limit: 0 }), platform.transactions("demo-1", { limit: 101 }),
        platform.transactions("demo-1", { limit: 10, before: "" }), platform.leaderboard("t-weekly-race", 1.5)
      ]
      for (const call of refused) {
        assert.strictEqual(reason(yield* Effect.flip(call)), "InvalidRequest")
      }
    }))

  it.effect("seeding again changes nothing", () =>
    Effect.gen(function*() {
      const platform = yield* Platform
      const before = yield* everything(platform)
      yield* seed
      assert.deepStrictEqual(yield* everything(platform), before)
    }))

  it.effect("http: gives the reference's answers, with the bearer token on every request", () =>
    Effect.gen(function*() {
      const server = yield* backend
      const http = yield* httpPlatform(server.url)
      assert.deepStrictEqual(yield* everything(http), yield* everything(yield* Platform))
      assert.strictEqual(server.requests.length, users.length * 7 + 2 + 3)
      for (const r of server.requests) assert.strictEqual(r.authorization, `Bearer ${token}`)
      assert.include(server.requests.map((r) => r.path), "/v1/users/demo-1/transactions?limit=100&before=demo-1-tx-03")
      assert.include(server.requests.map((r) => r.path), "/v1/tournaments?status=running")
      assert.include(server.requests.map((r) => r.path), "/v1/tournaments/t-weekly-race/leaderboard?limit=5")
    }))

  it.effect("http: maps 404, 401, 500, malformed bodies and timeouts to their reasons", () =>
    Effect.gen(function*() {
      const server = yield* backend
      const http = yield* httpPlatform(server.url)
      assert.deepInclude((yield* Effect.flip(http.balances("nobody"))).reason, { _tag: "UserNotFound", userId: "nobody" })
      assert.strictEqual(reason(yield* Effect.flip(http.leaderboard("t-nope", 5))), "NotFound")
      const wrongToken = yield* Effect.flip((yield* httpPlatform(server.url, { PLATFORM_API_TOKEN: "wrong" })).kyc("demo-1"))
      assert.strictEqual(reason(wrongToken), "InvalidRequest")
      assert.isFalse(wrongToken.retryable)

      const faults: ReadonlyArray<[PlatformBackend.Fault, string, boolean, string]> = [
        ["error500", "PlatformUnavailable", true, "profile: 500 internal: the database is down"],
        ["wrongShape", "BadResponse", false, "profile: /v1/users/demo-1/profile: "],
        ["notJson", "BadResponse", false, "profile: /v1/users/demo-1/profile: "],
        ["bare404", "BadResponse", false, "profile: 404 without the documented error body"],
        ["slow", "PlatformUnavailable", true, `profile: no answer within ${timeoutMs} ms`]
      ]
      for (const [fault, expected, retryable, message] of faults) {
        server.fault(fault)
        const started = Date.now()
        const error = yield* Effect.flip(http.profile("demo-1"))
        assert.strictEqual(reason(error), expected, fault)
        assert.strictEqual(error.retryable, retryable, fault)
        assert.isTrue(error.message.startsWith(message), `${fault}: ${error.message}`)
        assert.notInclude(JSON.stringify(error) + error.message, token, "the token never shows")
        assert.isBelow(Date.now() - started, timeoutMs + 700, fault)
      }
      server.fault("none")
      assert.strictEqual((yield* http.profile("demo-1")).userId, "demo-1", "answers again once the backend recovers")

      const missingToken = yield* Effect.flip(Layer.build(Platform.layerHttp.pipe(
        Layer.provide(config({ PLATFORM_API_URL: server.url }))
      )))
      assert.include(String(missingToken), "PLATFORM_API_TOKEN")
    }))

  it.effect("Platform.layer picks the backend when PLATFORM_API_URL is set, else the reference tables", () =>
    Effect.gen(function*() {
      const server = yield* backend
      const chosen = (env: Record<string, string>) =>
        Effect.map(Layer.build(Platform.layer.pipe(Layer.provide(config(env)))), Context.get(Platform))
      const viaHttp = yield* chosen({ PLATFORM_API_URL: server.url, PLATFORM_API_TOKEN: token })
      assert.strictEqual((yield* viaHttp.kyc("demo-2")).status, "pending")
      assert.strictEqual(server.requests.length, 1)
      const viaTables = yield* chosen({})
      assert.strictEqual((yield* viaTables.kyc("demo-2")).status, "pending")
      assert.strictEqual(server.requests.length, 1)
    }))

  it.effect("leaderboard calls are timed in tg_leaderboard_rtt_seconds, answered or not", () =>
    Effect.gen(function*() {
      const platform = yield* Platform
      const before = (yield* Metric.value(Metrics.leaderboardRtt)).count
      yield* platform.leaderboard("t-weekly-race", 3)
      yield* Effect.flip(platform.leaderboard("t-nope", 3))
      const after = yield* Metric.value(Metrics.leaderboardRtt)
      assert.strictEqual(after.count - before, 2)
      assert.isAbove(after.sum, 0)
    }))
})
