/**
 * What the `Platform` service speaks (`services/Platform.ts` re-exports it all): the answers as Schemas, whose
 * types are the service's types, the errors, and the rules for inputs. Shared by the implementations in this
 * folder and by `Wire.ts`; no I/O. The same rules are written down for the operator in `docs/platform-api.yaml`.
 */
import { Schema } from "effect"

/** An RFC 3339 date-time with a zone, e.g. `2026-10-01T12:00:00.000Z`. */
export const Timestamp = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/)
)
/** ISO 4217 (`EUR`), or the platform's code of a crypto currency (`USDT`). */
export const Currency = Schema.String.check(Schema.isPattern(/^[A-Z][A-Z0-9]{2,9}$/))
/** A decimal number as a string (`"12.50"`), never a float. */
export const Decimal = Schema.String.check(Schema.isPattern(/^-?\d{1,20}(\.\d{1,18})?$/))
/** A user, tournament or transaction id: 1-128 characters, no whitespace or control characters. */
/** Printable, no whitespace, and not `.` or `..` (which a URL path would resolve away). */
export const idPattern = /^(?!\.{1,2}$)[^\s\x00-\x1f\x7f]{1,128}$/
export const Id = Schema.String.check(Schema.isPattern(idPattern))
export const maxPageSize = 100

export const Money = Schema.Struct({ currency: Currency, amount: Decimal })
export type Money = typeof Money.Type

export const Profile = Schema.Struct({
  userId: Id,
  displayName: Schema.String,
  /** BCP 47 language tag, e.g. `it`, `en-GB`. */
  language: Schema.NullOr(Schema.String.check(Schema.isPattern(/^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$/))),
  /** ISO 3166-1 alpha-2, e.g. `IT`. */
  country: Schema.NullOr(Schema.String.check(Schema.isPattern(/^[A-Z]{2}$/))),
  status: Schema.Literals(["active", "suspended", "closed"]),
  createdAt: Timestamp
})
export type Profile = typeof Profile.Type

export const Kyc = Schema.Struct({
  level: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 })),
  status: Schema.Literals(["none", "pending", "verified", "rejected"])
})
export type Kyc = typeof Kyc.Type

const Minutes = Schema.NullOr(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))
export const Limits = Schema.Struct({
  depositDaily: Schema.NullOr(Money),
  depositWeekly: Schema.NullOr(Money),
  depositMonthly: Schema.NullOr(Money),
  lossDaily: Schema.NullOr(Money),
  sessionMinutes: Minutes,
  selfExcludedUntil: Schema.NullOr(Timestamp),
  realityCheckMinutes: Minutes
})
export type Limits = typeof Limits.Type

export const Transaction = Schema.Struct({
  id: Id,
  kind: Schema.Literals(["deposit", "withdrawal", "bet", "win", "bonus", "adjustment"]),
  amount: Money,
  status: Schema.Literals(["pending", "completed", "failed", "cancelled"]),
  createdAt: Timestamp
})
export type Transaction = typeof Transaction.Type

export const TournamentStatus = Schema.Literals(["upcoming", "running", "finished"])
export const Tournament = Schema.Struct({
  id: Id,
  title: Schema.String,
  startsAt: Timestamp,
  endsAt: Timestamp,
  status: TournamentStatus,
  prizePool: Schema.NullOr(Money),
  rulesUrl: Schema.NullOr(Schema.String)
})
export type Tournament = typeof Tournament.Type

/** `alias` is the player's public nickname: never a real name, e-mail or phone number. */
export const LeaderboardRow = Schema.Struct({
  rank: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  alias: Schema.String,
  score: Schema.Finite
})
export type LeaderboardRow = typeof LeaderboardRow.Type

export const Mission = Schema.Struct({
  id: Id,
  title: Schema.String,
  progress: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  target: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  reward: Schema.String,
  endsAt: Schema.NullOr(Timestamp)
})
export type Mission = typeof Mission.Type

/** A promo code as players type it: 3-32 letters, digits or hyphens; case-insensitive (backends see it upper-cased). */
export const promoCodePattern = /^[A-Za-z0-9-]{3,32}$/

/**
 * What activating a promo code did: `activated` (the bonus is granted now), `unknown` (no such code), `expired`,
 * `already_used` (this player activated it before), `not_eligible` (used up, or the player does not qualify).
 */
export const PromoStatus = Schema.Literals(["activated", "unknown", "expired", "already_used", "not_eligible"])

/**
 * `bonus` is what was granted, as short text for the player (e.g. "10 free spins"; never an amount of money), and
 * null unless `status` is `activated`.
 */
export const PromoOutcome = Schema.Struct({ status: PromoStatus, bonus: Schema.NullOr(Schema.String) })
export type PromoOutcome = typeof PromoOutcome.Type

export class UserNotFound extends Schema.TaggedError<UserNotFound>()("UserNotFound", { userId: Schema.String }) {}

/** Something other than a user does not exist, e.g. `what: "tournament t-42"`. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { what: Schema.String }) {}

/** No answer in time, a network error, a 5xx or 429 from the backend, or the reference database is down. */
export class PlatformUnavailable extends Schema.TaggedError<PlatformUnavailable>()("PlatformUnavailable", {
  message: Schema.String
}) {}

/** The backend answered something that does not decode (or a bare 404: likely a wrong `PLATFORM_API_URL`). */
export class BadResponse extends Schema.TaggedError<BadResponse>()("BadResponse", { message: Schema.String }) {}

/** The request was refused: an input breaking the rules above, or a 4xx from the backend such as 401. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  message: Schema.String
}) {}

export const Reason = Schema.Union([UserNotFound, NotFound, PlatformUnavailable, BadResponse, InvalidRequest])
export type Reason = typeof Reason.Type

/** Every failure of the service: `method` is the service method, `reason` what went wrong. */
export class PlatformError extends Schema.TaggedError<PlatformError>()("PlatformError", {
  method: Schema.String,
  reason: Reason
}) {
  /** Worth trying again later: the backend did not answer, or answered 5xx/429. */
  get retryable(): boolean {
    return this.reason._tag === "PlatformUnavailable"
  }
  override get message(): string {
    const r = this.reason
    return `${this.method}: ${
      r._tag === "UserNotFound" ? `user ${r.userId} not found` : r._tag === "NotFound" ? `${r.what} not found` : r.message
    }`
  }
}

/** A message short enough for a log line: backends can answer megabytes. */
export const clip = (text: string): string => text.length > 300 ? `${text.slice(0, 300)}…` : text
