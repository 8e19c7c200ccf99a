/**
 * The JSON the operator's backend speaks (`docs/platform-api.yaml`): the model's Schemas with their keys in
 * snake_case, each list in an envelope object (so fields can be added later), the one request body (a promo
 * code to activate) and the error body. Decoding ignores fields it does not know, so the backend may send more
 * than the document asks for.
 */
import { Schema } from "effect"
import * as Model from "./Model.ts"

export const Profile = Model.Profile.pipe(
  Schema.encodeKeys({ userId: "user_id", displayName: "display_name", createdAt: "created_at" })
)

export const Balances = Schema.Struct({ balances: Schema.Array(Model.Money) })

export const Kyc = Model.Kyc

export const Limits = Model.Limits.pipe(Schema.encodeKeys({
  depositDaily: "deposit_daily",
  depositWeekly: "deposit_weekly",
  depositMonthly: "deposit_monthly",
  lossDaily: "loss_daily",
  sessionMinutes: "session_minutes",
  selfExcludedUntil: "self_excluded_until",
  realityCheckMinutes: "reality_check_minutes"
}))

export const Transactions = Schema.Struct({
  transactions: Schema.Array(Model.Transaction.pipe(Schema.encodeKeys({ createdAt: "created_at" })))
})

export const Tournaments = Schema.Struct({
  tournaments: Schema.Array(Model.Tournament.pipe(Schema.encodeKeys({
    startsAt: "starts_at",
    endsAt: "ends_at",
    prizePool: "prize_pool",
    rulesUrl: "rules_url"
  })))
})

export const Leaderboard = Schema.Struct({ leaderboard: Schema.Array(Model.LeaderboardRow) })

export const Missions = Schema.Struct({
  missions: Schema.Array(Model.Mission.pipe(Schema.encodeKeys({ endsAt: "ends_at" })))
})

/** The body of `POST /v1/users/{user_id}/promo-codes`: the code as `Model.promoCodePattern` allows, upper-cased. */
export const PromoActivation = Schema.Struct({ code: Schema.String.check(Schema.isPattern(/^[A-Z0-9-]{3,32}$/)) })

export const PromoOutcome = Model.PromoOutcome

/** The body of every answer other than 2xx. */
export const ErrorBody = Schema.Struct({
  error: Schema.Struct({ code: Schema.String, message: Schema.String })
})

/** The error codes the document names; a backend may use others, the status decides what they mean. */
export const errorCodes = {
  userNotFound: "user_not_found",
  notFound: "not_found",
  invalidRequest: "invalid_request",
  unauthorized: "unauthorized",
  rateLimited: "rate_limited",
  internal: "internal"
} as const
