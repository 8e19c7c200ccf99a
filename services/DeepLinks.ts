/**
 * One-time deep links: a short-lived, unguessable token that maps to an action (`link_account`, `campaign`,
 * `resume`, `referral`), opened as `t.me/<bot>?start=<token>` or `t.me/<bot>/<app>?startapp=<token>`. Both
 * `/start <token>` in the bot and `start_param` in initData resolve through `resolve`.
 *
 * A token is 192 random bits in base64url (32 characters of `A-Za-z0-9_-`), unrelated to its action. Only its
 * SHA-256 is stored. Consumption is one conditional `UPDATE`: of two chats presenting a one-use token at once,
 * exactly one wins; the other learns why it lost (`reused`, `expired`, `not_yours`, `invalid`). Every
 * resolution is counted in `tg_deep_link_events_total{result}`.
 */
import { Clock, Context, Effect, Layer, Metric, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Crypto from "node:crypto"
import * as Metrics from "../src/metrics.ts"

/** What the platform may put in a link; ids are short printable strings. */
const Id = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_.:@-]{1,128}$/))
const Landing = Schema.Struct({ type: Schema.Literals(["tournament", "mission", "promo"]), id: Id })

export const CampaignParams = Schema.Struct({
  affiliate_id: Id,
  campaign_id: Id,
  click_id: Schema.optional(Id),
  landing: Schema.optional(Landing)
})
export const ResumeParams = Schema.Struct({
  step: Schema.Literals(["kyc", "mission", "tournament"]),
  id: Schema.optional(Id)
})
/** An optional whole number within bounds (a lifetime in seconds, a number of uses). */
const optionalIntIn = (minimum: number, maximum: number) => Schema.optional(Schema.Int.check(Schema.isBetween({ minimum, maximum })))
/** No parameters: `{}` only (an empty `Schema.Struct` would let any object through, even with excess refused). */
const NoParams = Schema.Record(Schema.String, Schema.Never)

/** `POST /v1/internal/deep-links`, as the contract names it. */
export const NewDeepLink = Schema.Union([
  Schema.Struct({
    action: Schema.Literal("link_account"),
    platform_user_id: Id,
    telegram_user_id: Schema.optional(Schema.Int),
    ttl_s: optionalIntIn(60, 3600),
    max_uses: Schema.optional(Schema.Literal(1)),
    params: Schema.optional(NoParams)
  }),
  Schema.Struct({
    action: Schema.Literal("campaign"),
    params: CampaignParams,
    telegram_user_id: Schema.optional(Schema.Int),
    ttl_s: optionalIntIn(60, 90 * 86_400),
    max_uses: optionalIntIn(1, 1_000_000)
  }),
  Schema.Struct({
    action: Schema.Literal("resume"),
    params: ResumeParams,
    platform_user_id: Schema.optional(Id),
    telegram_user_id: Schema.optional(Schema.Int),
    ttl_s: optionalIntIn(60, 30 * 86_400),
    max_uses: optionalIntIn(1, 100)
  }),
  Schema.Struct({
    action: Schema.Literal("referral"),
    platform_user_id: Id,
    ttl_s: optionalIntIn(60, 90 * 86_400),
    max_uses: optionalIntIn(1, 1000),
    params: Schema.optional(NoParams)
  })
])
export type NewDeepLink = typeof NewDeepLink.Type
export type Action = NewDeepLink["action"]

/** Default lifetimes: a link for a logged-in cabinet user is short, campaign material lives longer. */
const defaultTtlS: Readonly<Record<Action, number>> = {
  link_account: 600,
  campaign: 30 * 86_400,
  resume: 86_400,
  referral: 30 * 86_400
}

/** A token as Telegram carries it in `start`/`startapp`: what `create` makes, nothing else resolves. */
export const tokenPattern = /^[A-Za-z0-9_-]{32}$/

export type Created = { readonly token: string; readonly expiresAt: Date }

/** A consumed link: its action and what the platform put in it. */
export type Consumed = {
  readonly action: Action
  readonly params: Readonly<Record<string, unknown>>
  readonly platformUserId: string | null
}

export const refusals = ["reused", "expired", "not_yours", "invalid"] as const
export type Refusal = (typeof refusals)[number]

export type Resolution =
  | { readonly result: "ok"; readonly link: Consumed }
  | { readonly result: Refusal }

export class DeepLinks extends Context.Service<DeepLinks, {
  readonly create: (link: NewDeepLink) => Effect.Effect<Created, SqlError>
  /**
   * Consumes one use of `token` for this Telegram user, or says why not. `arrivalId` names the arrival (an update,
   * a sign-in): asked again for the same arrival (a handler run again after a failure or a crash), it answers
   * what it answered the first time and uses nothing more.
   */
  readonly resolve: (token: string, telegramUserId: number, arrivalId: string) => Effect.Effect<Resolution, SqlError>
}>()("tg-gateway/services/DeepLinks") {
  static readonly layer = Layer.effect(DeepLinks)(
    Effect.gen(function*() {
      const sql = yield* SqlClient

      const create = Effect.fn("DeepLinks.create")(function*(link: NewDeepLink) {
        const now = yield* Clock.currentTimeMillis
        const token = Crypto.randomBytes(24).toString("base64url")
        const expiresAt = new Date(now + (link.ttl_s ?? defaultTtlS[link.action]) * 1000)
        const platformUserId = "platform_user_id" in link ? link.platform_user_id ?? null : null
        const boundTo = "telegram_user_id" in link ? link.telegram_user_id ?? null : null
        yield* sql`
          INSERT INTO deep_links (token_hash, action, params, platform_user_id, bound_telegram_user_id, max_uses,
                                  expires_at)
          VALUES (${hashOf(token)}, ${link.action}, ${JSON.stringify(link.params ?? {})}::jsonb, ${platformUserId},
                  ${boundTo}, ${link.max_uses ?? 1}, ${expiresAt})
        `
        return { token, expiresAt }
      })

      const consume = (token: string, telegramUserId: number) => Effect.gen(function*() {
        const hash = hashOf(token)
        // The row lock of the UPDATE serialises concurrent uses: at most `max_uses` of them match.
        const won = yield* sql<{ action: Action; params: Record<string, unknown>; platform_user_id: string | null }>`
          UPDATE deep_links SET uses = uses + 1
          WHERE token_hash = ${hash} AND uses < max_uses AND expires_at > now()
            AND (bound_telegram_user_id IS NULL OR bound_telegram_user_id = ${telegramUserId})
          RETURNING action, params, platform_user_id
        `
        if (won[0] !== undefined) {
          const row = won[0]
          return { result: "ok", link: { action: row.action, params: row.params, platformUserId: row.platform_user_id } } as const
        }
        const rows = yield* sql<{ expired: boolean; used_up: boolean; bound: string | null }>`
          SELECT expires_at <= now() AS expired, uses >= max_uses AS used_up,
                 bound_telegram_user_id::text AS bound
          FROM deep_links WHERE token_hash = ${hash}
        `
        const row = rows[0]
        const result: Refusal = row === undefined
          ? "invalid"
          : row.bound !== null && row.bound !== String(telegramUserId)
          ? "not_yours"
          : row.expired
          ? "expired"
          : "reused"
        return { result } as const
      })

      const resolve = Effect.fn("DeepLinks.resolve")(function*(token: string, telegramUserId: number, arrivalId: string) {
        const outcome = yield* sql.withTransaction(Effect.gen(function*() {
          // Two runs of one arrival (a zombie and its successor) take turns; the second reads the first's answer.
          yield* sql`SELECT pg_advisory_xact_lock(hashtextextended(${arrivalId}, 0))`
          const known = yield* sql<{ resolution: Resolution }>`
            SELECT resolution FROM deep_link_resolutions WHERE arrival_id = ${arrivalId}`
          if (known[0] !== undefined) return { resolution: known[0].resolution, first: false }
          const resolution: Resolution = tokenPattern.test(token)
            ? yield* consume(token, telegramUserId)
            : { result: "invalid" }
          yield* sql`
            INSERT INTO deep_link_resolutions (arrival_id, resolution) VALUES (${arrivalId}, ${JSON.stringify(resolution)}::jsonb)`
          return { resolution, first: true }
        }))
        if (outcome.first) yield* Metric.update(Metrics.deepLinkEvents(outcome.resolution.result), 1)
        return outcome.resolution
      })

      return { create, resolve }
    })
  )
}

const hashOf = (token: string): Buffer => Crypto.createHash("sha256").update(token).digest()
