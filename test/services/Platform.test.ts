/**
 * The Platform adapter. The reference implementation answers every method from the seeded tables (unknown users
 * are `UserNotFound`, bad inputs `InvalidRequest`, seeding again changes nothing) and activates promo codes by
 * their rules, once per player, also under concurrent activations. The HTTP implementation, against a loopback
 * backend serving the documented routes from those same tables, gives the very same answers (promo activations
 * included, as a POST of the upper-cased code) with the bearer token on every request, and maps a documented
 * 404, a bare 404, a 500, a 401, a malformed body and a backend slower than PLATFORM_TIMEOUT_MS to their
 * reasons. `Platform.layer` picks by PLATFORM_API_URL.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Metric, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Postgres from "../../layers/Postgres.ts"
import { Platform, type PlatformError, type PromoOutcome } from "../../services/Platform.ts"
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

const activated = (bonus: string): PromoOutcome => ({ status: "activated", bonus })
const refused = (status: Exclude<PromoOutcome["status"], "activated">): PromoOutcome => ({ status, bonus: null })

/** Copies of the seeded promo codes under `prefix` (`R-WELCOME10`...), unused, for a test of its own. */
const promoCopies = (prefix: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    yield* sql`
      INSERT INTO ref_promo_codes (code, bonus, expires_at, max_uses, min_kyc_level)
      SELECT ${prefix} || code, bonus, expires_at, max_uses, min_kyc_level FROM ref_promo_codes
      WHERE code IN ('WELCOME10', 'SPRING', 'VIP', 'ONCE')`
  })

/**
 * Promo activations in order, on codes under `prefix`: each outcome, or the reason it failed. Covers every status,
 * a second activation, case-insensitivity, an unknown user and a malformed code.
 */
const promoScenario = (platform: Platform["Service"], prefix: string) =>
  Effect.forEach([
    ["demo-1", `${prefix}welcome10`], ["demo-1", `${prefix}WELCOME10`], ["demo-2", `${prefix}Welcome10`],
    ["demo-1", `${prefix}SPRING`], ["demo-1", `${prefix}VIP`], ["demo-3", `${prefix}vip`], ["demo-3", `${prefix}ONCE`],
    ["demo-1", `${prefix}ONCE`], ["demo-3", `${prefix}ONCE`], ["demo-1", `${prefix}NOPE`], ["nobody", `${prefix}VIP`],
    ["demo-1", `${prefix}VIP!`]
  ] as const, ([userId, code]) =>
    platform.activatePromo(userId, code).pipe(
      Effect.catch((error): Effect.Effect<PromoOutcome | string> => Effect.succeed(reason(error)))
    ))

/** What `promoScenario` answers on fresh copies of the seeded codes. */
const promoScenarioOutcomes: ReadonlyArray<PromoOutcome | string> = [
  activated("10 free spins"), refused("already_used"), activated("10 free spins"), refused("expired"),
  refused("not_eligible"), activated("50 free spins and a VIP tournament ticket"),
  activated("1 free tournament entry"), refused("not_eligible"), refused("already_used"), refused("unknown"),
  "UserNotFound", "InvalidRequest"
]

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

  it.effect("reference: activates the seeded promo codes by their rules, once per player", () =>
    Effect.gen(function*() {
      const platform = yield* Platform
      const sql = yield* SqlClient
      const uses = (code: string) =>
        Effect.map(sql<{ readonly uses: number }>`SELECT uses FROM ref_promo_codes WHERE code = ${code}`,
          ([row]) => row?.uses)

      assert.deepStrictEqual(yield* platform.activatePromo("demo-1", "welcome10"), activated("10 free spins"),
        "case-insensitive")
      assert.deepStrictEqual(yield* platform.activatePromo("demo-1", "WELCOME10"), refused("already_used"))
      assert.deepStrictEqual(yield* platform.activatePromo("demo-2", "WELCOME10"), activated("10 free spins"))
      assert.strictEqual(yield* uses("WELCOME10"), 2, "a second activation is not counted")
      // Responsible gaming: no bonus for a closed account (demo-5) or a self-excluded player (demo-4).
      assert.deepStrictEqual(yield* platform.activatePromo("demo-5", "WELCOME10"), refused("not_eligible"), "closed")
      assert.deepStrictEqual(yield* platform.activatePromo("demo-4", "WELCOME10"), refused("not_eligible"), "self-excluded")
      assert.deepStrictEqual(yield* platform.activatePromo("demo-1", "SPRING"), refused("expired"))
      assert.deepStrictEqual(yield* platform.activatePromo("demo-1", "VIP"), refused("not_eligible"), "KYC level 2 < 3")
      assert.deepStrictEqual(yield* platform.activatePromo("demo-5", "VIP"), refused("not_eligible"), "no KYC record")
      assert.deepStrictEqual(yield* platform.activatePromo("demo-3", "Vip"),
        activated("50 free spins and a VIP tournament ticket"))
      assert.deepStrictEqual(yield* platform.activatePromo("demo-2", "ONCE"), activated("1 free tournament entry"))
      assert.deepStrictEqual(yield* platform.activatePromo("demo-1", "ONCE"), refused("not_eligible"), "used up")
      assert.deepStrictEqual(yield* platform.activatePromo("demo-2", "ONCE"), refused("already_used"))
      assert.deepStrictEqual(yield* platform.activatePromo("demo-1", "NO-SUCH-CODE"), refused("unknown"))
      assert.deepInclude((yield* Effect.flip(platform.activatePromo("nobody", "WELCOME10"))).reason,
        { _tag: "UserNotFound", userId: "nobody" })
      for (const [userId, code] of [["demo-1", "ab"], ["demo-1", "x".repeat(33)], ["demo-1", "WELCOME 10"],
        ["demo-1", "WELCOME10!"], ["demo-1", "ÀBC"], ["demo-1", ""], ["", "WELCOME10"]] as const)
      {
        const error = yield* Effect.flip(platform.activatePromo(userId, code))
        assert.strictEqual(reason(error), "InvalidRequest", `${userId} ${code}`)
        assert.isTrue(error.message.startsWith("activatePromo: "), error.message)
      }
      assert.strictEqual(yield* uses("ONCE"), 1)

      yield* seed
      assert.deepStrictEqual(yield* platform.activatePromo("demo-1", "WELCOME10"), refused("already_used"),
        "seeding again keeps the activations")
      assert.deepStrictEqual(yield* platform.activatePromo("demo-3", "ONCE"), refused("not_eligible"),
        "and the count of uses")
      assert.strictEqual(yield* uses("ONCE"), 1)
    }))

  it.effect("reference: concurrent activations of a code take turns", () =>
    Effect.gen(function*() {
      const platform = yield* Platform
      const sql = yield* SqlClient
      yield* sql`INSERT INTO ref_promo_codes (code, bonus, max_uses) VALUES ('RACE-TWO', '2 free spins', 2)`
      const players = ["demo-1", "demo-2", "demo-3", "demo-4", "demo-5", "demo-1", "demo-2", "demo-3"]
      const outcomes = yield* Effect.forEach(players, (id) => platform.activatePromo(id, "race-two"),
        { concurrency: "unbounded" })
      const count = (status: PromoOutcome["status"]) => outcomes.filter((o) => o.status === status).length
      assert.strictEqual(count("activated"), 2, JSON.stringify(outcomes))
      assert.strictEqual(count("activated") + count("already_used") + count("not_eligible"), players.length)
      const [row] = yield* sql<{ readonly uses: number; readonly activations: number }>`
        SELECT uses, (SELECT count(*)::int FROM ref_promo_activations WHERE code = 'RACE-TWO') AS activations
        FROM ref_promo_codes WHERE code = 'RACE-TWO'`
      assert.deepStrictEqual(row, { uses: 2, activations: 2 })
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

  it.effect("http: activates promo codes as the reference does, with a POST of the upper-cased code", () =>
    Effect.gen(function*() {
      yield* promoCopies("R-")
      yield* promoCopies("H-")
      const reference = yield* promoScenario(yield* Platform, "R-")
      assert.deepStrictEqual(reference, promoScenarioOutcomes)

      const server = yield* backend
      const http = yield* httpPlatform(server.url)
      assert.deepStrictEqual(yield* promoScenario(http, "H-"), reference)
      assert.strictEqual(server.requests.length, promoScenarioOutcomes.length - 1, "a malformed code is not sent")
      const [first] = server.requests
      assert.deepStrictEqual(first, {
        method: "POST", path: "/v1/users/demo-1/promo-codes", authorization: `Bearer ${token}`,
        contentType: "application/json", body: JSON.stringify({ code: "H-WELCOME10" })
      })
      for (const r of server.requests) assert.strictEqual(r.method, "POST")

      server.fault("error500")
      const unavailable = yield* Effect.flip(http.activatePromo("demo-1", "H-WELCOME10"))
      assert.strictEqual(reason(unavailable), "PlatformUnavailable")
      assert.isTrue(unavailable.retryable)
      server.fault("wrongShape")
      assert.strictEqual(reason(yield* Effect.flip(http.activatePromo("demo-1", "H-WELCOME10"))), "BadResponse")
      server.fault("none")
      assert.deepStrictEqual(yield* http.activatePromo("demo-3", "h-welcome10"), activated("10 free spins"))
      assert.deepStrictEqual(yield* http.activatePromo("demo-4", "h-welcome10"), refused("not_eligible"))
    }))

  it.effect("http: the backend refuses a promo activation that is not the documented POST", () =>
    Effect.gen(function*() {
      const server = yield* backend
      const send = (init: RequestInit) =>
        Effect.promise(async () => {
          const response = await fetch(`${server.url}/v1/users/demo-1/promo-codes`, {
            ...init, headers: { authorization: `Bearer ${token}`, ...init.headers }
          })
          return [response.status, await response.json()] as const
        })
      const ErrorBody = Schema.Struct({ error: Schema.Struct({ code: Schema.String, message: Schema.String }) })
      for (const [init, status] of [
        [{ method: "GET" }, 405],
        [{ method: "POST", body: "code=WELCOME10", headers: { "content-type": "text/plain" } }, 415],
        [{ method: "POST", body: "{\"code\": 42}", headers: { "content-type": "application/json" } }, 400]
      ] as const) {
        const [answered, body] = yield* send(init)
        assert.strictEqual(answered, status)
        assert.strictEqual(Schema.decodeUnknownSync(ErrorBody)(body).error.code, "invalid_request")
      }
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
