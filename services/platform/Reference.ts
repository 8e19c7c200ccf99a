/**
 * The reference platform: the `Platform` answers read from the gateway's own Postgres tables (`ref_*`, migrations
 * 0005 and 0007, filled by `npm run seed`). It stands in for the operator's backend in development, demos and
 * tests, and shows what each answer means. Read-only but for promo codes, whose activations it records (one
 * transaction per activation, the code's row locked); a database failure is `PlatformUnavailable`.
 */
import { Effect, Schema, SchemaTransformation } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { Statement } from "effect/sql/Statement"
import type { Backend } from "../Platform.ts"
import * as Model from "./Model.ts"

/** `timestamptz` arrives as a `Date`; the model wants RFC 3339 text. */
const IsoDate = Schema.Date.pipe(Schema.decodeTo(
  Model.Timestamp,
  SchemaTransformation.transform({ decode: (date: Date) => date.toISOString(), encode: (text) => new Date(text) })
))
const NullableIsoDate = Schema.NullOr(IsoDate)
/** `numeric` arrives as a decimal string, which is what the model wants. */
const NullableDecimal = Schema.NullOr(Model.Decimal)

const ProfileRow = Schema.Struct({ ...Model.Profile.fields, createdAt: IsoDate })
const LimitsRow = Schema.Struct({
  currency: Model.Currency,
  depositDaily: NullableDecimal,
  depositWeekly: NullableDecimal,
  depositMonthly: NullableDecimal,
  lossDaily: NullableDecimal,
  sessionMinutes: Model.Limits.fields.sessionMinutes,
  selfExcludedUntil: NullableIsoDate,
  realityCheckMinutes: Model.Limits.fields.realityCheckMinutes
})
const TransactionRow = Schema.Struct({
  ...Model.Transaction.fields,
  amount: Model.Decimal,
  currency: Model.Currency,
  createdAt: IsoDate
})
const TournamentRow = Schema.Struct({
  id: Model.Id,
  title: Schema.String,
  status: Model.TournamentStatus,
  rulesUrl: Schema.NullOr(Schema.String),
  startsAt: IsoDate,
  endsAt: IsoDate,
  prizeCurrency: Schema.NullOr(Model.Currency),
  prizeAmount: NullableDecimal
})
const MissionRow = Schema.Struct({ ...Model.Mission.fields, endsAt: NullableIsoDate })
/** An existing user's KYC level (0 without a KYC record). */
const KycLevelRow = Schema.Struct({ level: Model.Kyc.fields.level, barred: Schema.Boolean })
const PromoRow = Schema.Struct({
  bonus: Schema.String,
  expired: Schema.Boolean,
  usedUp: Schema.Boolean,
  minKycLevel: Schema.Int
})

const money = (currency: string, amount: string | null): Model.Money | null =>
  amount === null ? null : { currency, amount }

const promoOutcome = (status: Exclude<Model.PromoOutcome["status"], "activated">): Model.PromoOutcome =>
  ({ status, bonus: null })

/** A failing statement, or transaction, of the reference database. */
const unavailable = (error: SqlError): Model.PlatformUnavailable =>
  new Model.PlatformUnavailable({ message: `reference database: ${error.message}` })

const noLimits: Model.Limits = {
  depositDaily: null,
  depositWeekly: null,
  depositMonthly: null,
  lossDaily: null,
  sessionMinutes: null,
  selfExcludedUntil: null,
  realityCheckMinutes: null
}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient

  /** Runs `statement` and decodes its rows with `Row`. */
  const rows = <A>(Row: Schema.Codec<A, unknown, never, unknown>, statement: Statement<unknown>) =>
    statement.pipe(
      Effect.mapError(unavailable),
      Effect.flatMap((found) =>
        Schema.decodeUnknownEffect(Schema.Array(Row))(found).pipe(
          Effect.mapError((error) => new Model.BadResponse({ message: Model.clip(`reference row: ${error.message}`) }))
        )
      )
    )

  const Found = Schema.Struct({ found: Schema.Number })
  /** Fails with `reason` unless `statement` finds a row. */
  const exists = (statement: Statement<unknown>, reason: () => Model.UserNotFound | Model.NotFound) =>
    Effect.flatMap(rows(Found, statement), (found) => found.length === 0 ? Effect.fail(reason()) : Effect.void)
  /** An existing user with no rows has empty answers; an unknown one is `UserNotFound`. */
  const known = (userId: string) =>
    exists(sql`SELECT 1 AS found FROM ref_users WHERE user_id = ${userId}`, () => new Model.UserNotFound({ userId }))

  /** Runs `statement`, which answers no rows. */
  const run = (statement: Statement<unknown>) => Effect.asVoid(Effect.mapError(statement, unavailable))

  /**
   * The rules of an activation, in order: an unknown code, an expired one, one this user activated before, one
   * used up or above the user's KYC level; else the activation is recorded and counted. The code's row stays
   * locked until the transaction ends, so concurrent activations of one code take turns.
   */
  const activate = (userId: string, code: string) =>
    Effect.gen(function*() {
      const [user] = yield* rows(KycLevelRow, sql`
        SELECT coalesce(k.level, 0)::int AS level,
          (u.status <> 'active' OR coalesce(l.self_excluded_until > now(), false)) AS "barred"
        FROM ref_users u LEFT JOIN ref_kyc k ON k.user_id = u.user_id LEFT JOIN ref_limits l ON l.user_id = u.user_id
        WHERE u.user_id = ${userId}`)
      if (user === undefined) return yield* Effect.fail(new Model.UserNotFound({ userId }))
      const [promo] = yield* rows(PromoRow, sql`
        SELECT bonus, coalesce(expires_at <= now(), false) AS expired,
          coalesce(uses >= max_uses, false) AS "usedUp", min_kyc_level AS "minKycLevel"
        FROM ref_promo_codes WHERE code = ${code}
        FOR UPDATE`)
      if (promo === undefined) return promoOutcome("unknown")
      if (promo.expired) return promoOutcome("expired")
      const used = yield* rows(Found, sql`
        SELECT 1 AS found FROM ref_promo_activations WHERE code = ${code} AND user_id = ${userId}`)
      if (used.length > 0) return promoOutcome("already_used")
      // Responsible gaming: a suspended, closed or self-excluded player gets no bonus.
      if (promo.usedUp || user.barred || user.level < promo.minKycLevel) return promoOutcome("not_eligible")
      yield* run(sql`INSERT INTO ref_promo_activations (code, user_id) VALUES (${code}, ${userId})`)
      yield* run(sql`UPDATE ref_promo_codes SET uses = uses + 1 WHERE code = ${code}`)
      return { status: "activated", bonus: promo.bonus } satisfies Model.PromoOutcome
    }).pipe(
      sql.withTransaction,
      Effect.catchTag("SqlError", (error) => Effect.fail(unavailable(error)))
    )

  const tournamentStatus = sql`
    CASE WHEN now() < starts_at THEN 'upcoming' WHEN now() < ends_at THEN 'running' ELSE 'finished' END`

  const backend: Backend = {
    profile: (userId) =>
      Effect.flatMap(
        rows(ProfileRow, sql`
          SELECT user_id AS "userId", display_name AS "displayName", language, country, status,
            created_at AS "createdAt"
          FROM ref_users WHERE user_id = ${userId}`),
        (found) => found[0] === undefined ? Effect.fail(new Model.UserNotFound({ userId })) : Effect.succeed(found[0])
      ),
    balances: (userId) =>
      Effect.andThen(
        known(userId),
        rows(Model.Money, sql`
          SELECT currency, amount::text AS amount FROM ref_balances WHERE user_id = ${userId} ORDER BY currency`)
      ),
    kyc: (userId) =>
      Effect.andThen(
        known(userId),
        Effect.map(
          rows(Model.Kyc, sql`SELECT level, status FROM ref_kyc WHERE user_id = ${userId}`),
          (found): Model.Kyc => found[0] ?? { level: 0, status: "none" }
        )
      ),
    limits: (userId) =>
      Effect.andThen(
        known(userId),
        Effect.map(
          rows(LimitsRow, sql`
            SELECT currency, deposit_daily::text AS "depositDaily", deposit_weekly::text AS "depositWeekly",
              deposit_monthly::text AS "depositMonthly", loss_daily::text AS "lossDaily",
              session_minutes AS "sessionMinutes", self_excluded_until AS "selfExcludedUntil",
              reality_check_minutes AS "realityCheckMinutes"
            FROM ref_limits WHERE user_id = ${userId}`),
          ([row]): Model.Limits => {
            if (row === undefined) return noLimits
            const { currency, depositDaily, depositWeekly, depositMonthly, lossDaily, ...times } = row
            return {
              ...times,
              depositDaily: money(currency, depositDaily),
              depositWeekly: money(currency, depositWeekly),
              depositMonthly: money(currency, depositMonthly),
              lossDaily: money(currency, lossDaily)
            }
          }
        )
      ),
    transactions: (userId, page) =>
      Effect.andThen(
        known(userId),
        Effect.map(
          rows(TransactionRow, sql`
            SELECT id, kind, currency, amount::text AS amount, status, created_at AS "createdAt"
            FROM ref_transactions
            WHERE user_id = ${userId} ${page.before === undefined ? sql`` : sql`
              AND (created_at, id) < (SELECT created_at, id FROM ref_transactions
                                      WHERE id = ${page.before} AND user_id = ${userId})`}
            ORDER BY created_at DESC, id DESC
            LIMIT ${page.limit}`),
          (found) => found.map(({ currency, amount, ...t }) => ({ ...t, amount: { currency, amount } }))
        )
      ),
    tournaments: (filter) =>
      Effect.map(
        rows(TournamentRow, sql`
          SELECT id, title, starts_at AS "startsAt", ends_at AS "endsAt", ${tournamentStatus} AS status,
            prize_currency AS "prizeCurrency", prize_amount::text AS "prizeAmount", rules_url AS "rulesUrl"
          FROM ref_tournaments
          ${filter.status === undefined ? sql`` : sql`WHERE ${tournamentStatus} = ${filter.status}`}
          ORDER BY starts_at, id`),
        (found) =>
          found.map(({ prizeCurrency, prizeAmount, ...t }) => ({
            ...t,
            prizePool: prizeCurrency === null ? null : money(prizeCurrency, prizeAmount)
          }))
      ),
    leaderboard: (tournamentId, limit) =>
      Effect.andThen(
        exists(
          sql`SELECT 1 AS found FROM ref_tournaments WHERE id = ${tournamentId}`,
          () => new Model.NotFound({ what: `tournament ${tournamentId}` })
        ),
        rows(Model.LeaderboardRow, sql`
          SELECT rank() OVER (ORDER BY score DESC)::int AS rank, alias, score
          FROM ref_leaderboard WHERE tournament_id = ${tournamentId}
          ORDER BY score DESC, alias
          LIMIT ${limit}`)
      ),
    missions: (userId) =>
      Effect.andThen(
        known(userId),
        rows(MissionRow, sql`
          SELECT mission_id AS id, title, progress, target, reward, ends_at AS "endsAt"
          FROM ref_missions
          WHERE user_id = ${userId} AND (ends_at IS NULL OR ends_at > now())
          ORDER BY ends_at NULLS LAST, mission_id`)
      ),
    activatePromo: activate
  }
  return backend
})
