/**
 * What happens when a player arrives through a deep link (`/start <token>` in the chat, `start_param` in the Mini
 * App): the link is consumed (`DeepLinks`), and its action is carried out.
 *
 * - `campaign`: the attribution (affiliate, campaign, click, landing) is stored with the user once: the first
 *   touch wins, later campaigns change nothing. The platform gets `telegram_attribution` the first time.
 * - `referral`: a new player (not linked to any account yet) is counted for the referrer once, and a referrer at
 *   most `REFERRALS_PER_DAY` times a day; the platform gets `telegram_referral`.
 * - `link_account`: nothing is linked yet; the bot asks the player to confirm, then `confirmLink` links.
 * - `resume`: where to continue (a KYC step, a mission, a tournament).
 *
 * Events carry ids made from the update or request (`eventId`), so a handler that runs again publishes nothing twice.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import type * as Redis from "effect/persistence/Redis"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { CampaignParams, DeepLinks, type Refusal, ResumeParams } from "./DeepLinks.ts"
import * as Env from "../src/config.ts"
import { GatewayEvents } from "./GatewayEvents.ts"
import { Identity } from "./Identity.ts"

export type Arrival =
  | { readonly kind: "refused"; readonly result: Refusal }
  | { readonly kind: "campaign"; readonly firstTouch: boolean; readonly landing: Landing | undefined }
  | { readonly kind: "link_account"; readonly platformUserId: string }
  | { readonly kind: "resume"; readonly step: "kyc" | "mission" | "tournament"; readonly id: string | undefined }
  | { readonly kind: "referral"; readonly counted: boolean }

export type Landing = { readonly type: "tournament" | "mission" | "promo"; readonly id: string }

export type Arriving = { readonly telegramUserId: number; readonly chatId: number | undefined; readonly eventId: string }

export class Arrivals extends Context.Service<Arrivals, {
  readonly arrive: (token: string, who: Arriving) => Effect.Effect<Arrival, SqlError | Redis.RedisError>
  /** Links after the player confirmed; `already_linked` when linked to another platform account. */
  readonly confirmLink: (who: Arriving, platformUserId: string) => Effect.Effect<"linked" | "already_linked", SqlError | Redis.RedisError>
  /**
   * Unlinks (bot settings, Mini App) and tells the platform; `false` when nothing was linked. Asked again for the
   * same `eventId` (a handler run again), it answers `true` if that first run unlinked.
   */
  readonly unlink: (telegramUserId: number, eventId: string, actor: string) => Effect.Effect<boolean, SqlError | Redis.RedisError>
}>()("tg-gateway/services/Arrivals") {
  static readonly layer = Layer.effect(Arrivals)(
    Effect.gen(function*() {
      const links = yield* DeepLinks
      const identity = yield* Identity
      const events = yield* GatewayEvents
      const sql = yield* SqlClient
      const decodeCampaign = Schema.decodeUnknownOption(CampaignParams)
      const decodeResume = Schema.decodeUnknownOption(ResumeParams)
      const perDay = yield* Env.referralsPerDay

      const campaign = (who: Arriving, params: typeof CampaignParams.Type) =>
        Effect.gen(function*() {
          const inserted = yield* sql`
            INSERT INTO attributions (telegram_user_id, affiliate_id, campaign_id, click_id, landing)
            VALUES (${who.telegramUserId}, ${params.affiliate_id}, ${params.campaign_id}, ${params.click_id ?? null},
                    ${params.landing === undefined ? null : `${params.landing.type}:${params.landing.id}`})
            ON CONFLICT (telegram_user_id) DO NOTHING
            RETURNING telegram_user_id
          `
          const firstTouch = inserted.length > 0
          // Published whenever this user's attribution exists, under one id per user: a failure between the
          // insert and the append is repaired when the arrival is handled again (it resolves the same way).
          yield* events.publish(`attribution:${who.telegramUserId}`, {
            type: "telegram_attribution",
            telegram_user_id: who.telegramUserId,
            ...(yield* attributionOf(who.telegramUserId))
          })
          return { kind: "campaign", firstTouch, landing: params.landing } as const
        })

      const attributionOf = (telegramUserId: number) =>
        Effect.map(
          sql<{ affiliate_id: string; campaign_id: string; click_id: string | null }>`
            SELECT affiliate_id, campaign_id, click_id FROM attributions WHERE telegram_user_id = ${telegramUserId}`,
          (rows) => rows[0]!
        )

      const referral = (who: Arriving, referrer: string | null) =>
        Effect.gen(function*() {
          if (referrer === null) return { kind: "referral", counted: false } as const
          // Anti-abuse: a player already linked to an account is no new player (and never the referrer's own);
          // a referrer is credited at most REFERRALS_PER_DAY new players a day.
          const own = yield* identity.get(who.telegramUserId)
          if (own !== undefined && own.platformUserId !== null) return { kind: "referral", counted: false } as const
          const inserted = yield* sql`
            INSERT INTO referrals (telegram_user_id, referrer_platform_user_id)
            SELECT ${who.telegramUserId}, ${referrer}
            WHERE (SELECT count(*) FROM referrals WHERE referrer_platform_user_id = ${referrer}
                     AND referred_at > now() - interval '1 day') < ${perDay}
            ON CONFLICT (telegram_user_id) DO NOTHING
            RETURNING telegram_user_id
          `
          // Published whenever the user's referral exists (the stored referrer), under one id per user: a failure
          // before the append is repaired when the arrival is handled again.
          const [stored] = yield* sql<{ referrer: string }>`
            SELECT referrer_platform_user_id AS referrer FROM referrals WHERE telegram_user_id = ${who.telegramUserId}`
          if (stored !== undefined) {
            yield* events.publish(`referral:${who.telegramUserId}`, {
              type: "telegram_referral",
              telegram_user_id: who.telegramUserId,
              referrer_platform_user_id: stored.referrer
            })
          }
          return { kind: "referral", counted: inserted.length > 0 } as const
        })

      const arrive = Effect.fn("Arrivals.arrive")(function*(token: string, who: Arriving) {
        const resolution = yield* links.resolve(token, who.telegramUserId, who.eventId)
        if (resolution.result !== "ok") return { kind: "refused", result: resolution.result } as const
        const link = resolution.link
        switch (link.action) {
          case "campaign": {
            const params = decodeCampaign(link.params)
            return Option.isSome(params) ? yield* campaign(who, params.value) : refusedInvalid
          }
          case "resume": {
            const params = decodeResume(link.params)
            return Option.isSome(params) ? { kind: "resume", step: params.value.step, id: params.value.id } as const : refusedInvalid
          }
          case "link_account":
            return link.platformUserId === null ? refusedInvalid : { kind: "link_account", platformUserId: link.platformUserId } as const
          case "referral":
            return yield* referral(who, link.platformUserId)
        }
      })

      const confirmLink = Effect.fn("Arrivals.confirmLink")(function*(who: Arriving, platformUserId: string) {
        const linked = yield* Effect.result(identity.link({ telegramUserId: who.telegramUserId, platformUserId, chatId: who.chatId }, "user"))
        if (linked._tag === "Failure") {
          if (linked.failure._tag === "AlreadyLinked") return "already_linked" as const
          return yield* Effect.fail(linked.failure)
        }
        yield* events.publish(who.eventId, { type: "telegram_linked", telegram_user_id: who.telegramUserId, platform_user_id: platformUserId })
        return "linked" as const
      })

      // The platform is told before the unlink commits: if Redis fails, nothing changed and the caller retries.
      const unlink = Effect.fn("Arrivals.unlink")(function*(telegramUserId: number, eventId: string, actor: string) {
        const previous = yield* identity.unlink(telegramUserId, actor)
        if (previous === undefined) return yield* events.published(eventId)
        yield* events.publish(eventId, { type: "telegram_unlinked", telegram_user_id: telegramUserId, platform_user_id: previous })
        return true
      }, (effect) => sql.withTransaction(effect))

      return { arrive, confirmLink, unlink }
    })
  )
}

const refusedInvalid: Arrival = { kind: "refused", result: "invalid" }
