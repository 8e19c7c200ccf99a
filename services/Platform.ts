/**
 * The operator's platform as the gateway sees it: a player's profile, balances, KYC, responsible-gaming limits,
 * transactions and missions, and the tournaments with their leaderboards, all read-only; the one write is
 * activating a promo code, which grants a bonus (idempotent per player and code). Money never moves here.
 *
 * Two implementations answer the same way: the operator's backend over HTTP when `PLATFORM_API_URL` is set
 * (`platform/Http.ts`, contract in `docs/platform-api.md`), else the reference tables in the gateway's Postgres
 * (`platform/Reference.ts`, filled by `npm run seed`). Either way this file checks the inputs, names every
 * failure after its method, traces each call and times leaderboard calls (`tg_leaderboard_rtt_seconds`).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Clock, Context, Effect, Layer, Metric, Option } from "effect"
import * as Env from "../src/config.ts"
import * as Metrics from "../src/metrics.ts"
import * as Http from "./platform/Http.ts"
import {
  idPattern,
  InvalidRequest,
  type Kyc,
  type LeaderboardRow,
  type Limits,
  maxPageSize,
  type Mission,
  type Money,
  PlatformError,
  type Profile,
  promoCodePattern,
  type PromoOutcome,
  type Reason,
  type Tournament,
  type Transaction
} from "./platform/Model.ts"
import * as Reference from "./platform/Reference.ts"

export * from "./platform/Model.ts"

export class Platform extends Context.Service<Platform, {
  readonly profile: (userId: string) => Effect.Effect<Profile, PlatformError>
  readonly balances: (userId: string) => Effect.Effect<ReadonlyArray<Money>, PlatformError>
  readonly kyc: (userId: string) => Effect.Effect<Kyc, PlatformError>
  readonly limits: (userId: string) => Effect.Effect<Limits, PlatformError>
  /** Newest first; `before` is the id of the last transaction of the previous page. */
  readonly transactions: (
    userId: string,
    page: { readonly limit: number; readonly before?: string }
  ) => Effect.Effect<ReadonlyArray<Transaction>, PlatformError>
  readonly tournaments: (
    filter: { readonly status?: Tournament["status"] }
  ) => Effect.Effect<ReadonlyArray<Tournament>, PlatformError>
  /** The best `limit` rows, best first; players appear by alias only. */
  readonly leaderboard: (tournamentId: string, limit: number) => Effect.Effect<ReadonlyArray<LeaderboardRow>, PlatformError>
  /** The missions open to the user now. */
  readonly missions: (userId: string) => Effect.Effect<ReadonlyArray<Mission>, PlatformError>
  /**
   * Activates `code` (case-insensitive) for the user: grants its bonus once per user and code; activating it
   * again answers `already_used` and grants nothing.
   */
  readonly activatePromo: (userId: string, code: string) => Effect.Effect<PromoOutcome, PlatformError>
}>()("tg-gateway/services/Platform") {
  /** The operator's backend when `PLATFORM_API_URL` is set, else the reference tables. */
  static readonly layer = Layer.unwrap(Effect.gen(function*() {
    if (Option.isSome(yield* Env.platformApiUrl)) return Platform.layerHttp
    yield* Effect.logWarning("PLATFORM_API_URL is not set: the platform is the reference tables in the gateway's Postgres (demo data)")
    return Platform.layerReference
  }))

  /** The reference tables (`ref_*`) in the gateway's Postgres. */
  static readonly layerReference = Layer.effect(Platform)(Effect.map(Reference.make, guard))

  /** The operator's backend at `PLATFORM_API_URL`, through its own pool of keep-alive connections. */
  static readonly layerHttp = Layer.effect(Platform)(Effect.map(Http.make, guard)).pipe(
    Layer.provide(NodeHttpClient.layerUndici)
  )
}

/** What an implementation provides: the service's methods, failing with a bare `Reason`. */
export type Backend = {
  readonly [K in keyof Platform["Service"]]: Platform["Service"][K] extends
    (...args: infer Args) => Effect.Effect<infer A, PlatformError> ? (...args: Args) => Effect.Effect<A, Reason>
    : never
}

/**
 * `backend` behind the checks on inputs (promo codes reach it upper-cased), with failures named after their method,
 * a span per call and timing.
 */
function guard(backend: Backend): Platform["Service"] {
  const call = <A>(method: keyof Backend, problem: string | undefined, effect: Effect.Effect<A, Reason>) =>
    (problem === undefined ? effect : Effect.fail(new InvalidRequest({ message: problem }))).pipe(
      Effect.mapError((reason) => new PlatformError({ method, reason })),
      Effect.withSpan(`Platform.${method}`)
    )
  return {
    profile: (userId) => call("profile", checkId("userId", userId), backend.profile(userId)),
    balances: (userId) => call("balances", checkId("userId", userId), backend.balances(userId)),
    kyc: (userId) => call("kyc", checkId("userId", userId), backend.kyc(userId)),
    limits: (userId) => call("limits", checkId("userId", userId), backend.limits(userId)),
    transactions: (userId, page) =>
      call(
        "transactions",
        checkId("userId", userId) ?? checkLimit(page.limit) ??
          (page.before === undefined ? undefined : checkId("before", page.before)),
        backend.transactions(userId, page)
      ),
    tournaments: (filter) => call("tournaments", undefined, backend.tournaments(filter)),
    leaderboard: (tournamentId, limit) =>
      call(
        "leaderboard",
        checkId("tournamentId", tournamentId) ?? checkLimit(limit),
        timed(backend.leaderboard(tournamentId, limit))
      ),
    missions: (userId) => call("missions", checkId("userId", userId), backend.missions(userId)),
    activatePromo: (userId, code) =>
      call(
        "activatePromo",
        checkId("userId", userId) ?? checkPromoCode(code),
        backend.activatePromo(userId, code.toUpperCase())
      )
  }
}

const checkId = (name: string, value: string): string | undefined =>
  idPattern.test(value) ? undefined : `${name} must be 1-128 characters without whitespace or control characters`

const checkPromoCode = (code: string): string | undefined =>
  promoCodePattern.test(code) ? undefined : "code must be 3-32 letters, digits or hyphens"

const checkLimit = (limit: number): string | undefined =>
  Number.isInteger(limit) && limit >= 1 && limit <= maxPageSize ? undefined : `limit must be an integer in 1..${maxPageSize}`

/** Records the call's round trip, answered or not, in `tg_leaderboard_rtt_seconds`. */
const timed = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.flatMap(Clock.monotonicTimeNanos, (started) =>
    Effect.onExit(effect, () =>
      Effect.flatMap(Clock.monotonicTimeNanos, (now) =>
        Metric.update(Metrics.leaderboardRtt, Number(now - started) / 1e9))))
