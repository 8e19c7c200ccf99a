/**
 * Demo data for the reference platform (`npm run seed`, and the tests): five players `demo-1`..`demo-5` with EUR
 * balances, KYC levels, limits, transactions and missions, a finished, a running and an upcoming tournament
 * with leaderboards of aliases, and promo codes. Every row is an upsert keyed by a fixed id, so seeding again
 * changes nothing; a promo code's count of uses (and its activations) is never written here, so seeding again
 * does not make a used code usable again. Dates are counted from the start of the current UTC day (from
 * `Clock`), so the running tournament is running and the missions are open whenever the demo is seeded.
 */
import { Clock, Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

const dayMs = 86_400_000

/** The players: id, display name, language, country, status, signed up. */
const users = [
  ["demo-1", "Giulia R.", "it", "IT", "active", "2024-03-14T18:22:05Z"],
  ["demo-2", "Marco B.", "it", "IT", "active", "2024-11-02T09:10:00Z"],
  ["demo-3", "Anna K.", "en-GB", "MT", "active", "2025-01-20T21:45:30Z"],
  ["demo-4", "Luca P.", "it", "IT", "suspended", "2023-07-09T12:00:00Z"],
  ["demo-5", "Sofia T.", null, null, "closed", "2022-05-30T08:30:00Z"]
] as const

const balances = [["demo-1", "125.50"], ["demo-2", "0.00"], ["demo-3", "2480.75"], ["demo-4", "15.00"]] as const

const kyc = [["demo-1", 2, "verified"], ["demo-2", 1, "pending"], ["demo-3", 3, "verified"], ["demo-4", 2, "rejected"]] as const

/** Transactions: id, user, kind, amount in EUR, status, hours before the start of today. */
const transactions = [
  ["demo-1-tx-01", "demo-1", "deposit", "50.00", "completed", 150],
  ["demo-1-tx-02", "demo-1", "bet", "10.00", "completed", 149],
  ["demo-1-tx-03", "demo-1", "win", "25.00", "completed", 148],
  ["demo-1-tx-04", "demo-1", "bonus", "5.00", "completed", 100],
  ["demo-1-tx-05", "demo-1", "bet", "20.00", "completed", 70],
  ["demo-1-tx-06", "demo-1", "deposit", "100.00", "failed", 30],
  ["demo-1-tx-07", "demo-1", "withdrawal", "40.00", "pending", 20],
  ["demo-1-tx-08", "demo-1", "adjustment", "1.50", "completed", 10],
  ["demo-2-tx-01", "demo-2", "deposit", "20.00", "completed", 60],
  ["demo-2-tx-02", "demo-2", "bet", "20.00", "completed", 59],
  ["demo-3-tx-01", "demo-3", "deposit", "2500.00", "completed", 200],
  ["demo-3-tx-02", "demo-3", "bet", "19.25", "completed", 40],
  ["demo-3-tx-03", "demo-3", "withdrawal", "300.00", "cancelled", 12],
  ["demo-4-tx-01", "demo-4", "deposit", "15.00", "completed", 400],
  ["demo-5-tx-01", "demo-5", "withdrawal", "80.00", "completed", 9000]
] as const

/** Tournaments: id, title, starts and ends (days from today), prize pool in EUR, rules. */
const tournaments = [
  ["t-spring-sprint", "Spring Slots Sprint", -20, -13, "5000.00", "https://example.com/rules/spring-sprint"],
  ["t-weekly-race", "Weekly Slot Race", -3, 4, "1000.00", "https://example.com/rules/weekly-race"],
  ["t-live-cup", "Live Casino Cup", 5, 12, null, null]
] as const

/** Public aliases, never names; the demo players appear among other players. */
const players = [
  ["demo-1", "Tigre77"], ["demo-2", "NightOwl"], ["demo-3", "AceHigh"], ["demo-4", "Volpe_3"],
  ["player-1001", "LuckyFox"], ["player-1002", "Spin***42"], ["player-1003", "Rocket9"], ["player-1004", "Zeta88"]
] as const
/** Each leaderboard: the score of every player above, in the same order (ties on purpose: equal ranks). */
const scores: Record<string, ReadonlyArray<number>> = {
  "t-spring-sprint": [1520, 980, 2210, 430, 1875, 980, 655, 120],
  "t-weekly-race": [310, 0, 845.5, 95, 512, 278, 845.5, 60]
}

/** Missions: user, id, title, progress, target, reward, ends (days from today; null: open-ended). */
const missions = [
  ["demo-1", "m-spin-50", "Spin 50 times on slots", 32, 50, "10 free spins", 4],
  ["demo-1", "m-deposit-streak", "Deposit on 3 days in a row", 1, 3, "5 EUR bonus", null],
  ["demo-1", "m-weekend", "Play on Saturday and Sunday", 1, 2, "20 free spins", -2],
  ["demo-2", "m-first-deposit", "Make your first deposit", 0, 1, "100% bonus up to 50 EUR", null],
  ["demo-3", "m-live-5", "Play 5 live casino games", 5, 5, "10 EUR bonus", 1]
] as const

/** Promo codes: code, bonus, expires (days from today; null: never), uses allowed (null: any), KYC level needed. */
const promoCodes = [
  ["WELCOME10", "10 free spins", null, null, 0],
  ["SPRING", "25 free spins", -10, null, 0],
  ["VIP", "50 free spins and a VIP tournament ticket", null, null, 3],
  ["ONCE", "1 free tournament entry", null, 1, 0]
] as const

export type Seeded = { readonly users: number; readonly transactions: number; readonly tournaments: number }

/** Writes the demo data (upserts), in one transaction. */
export const seed = Effect.gen(function*() {
  const sql = yield* SqlClient
  const today = Math.floor((yield* Clock.currentTimeMillis) / dayMs) * dayMs
  const day = (days: number) => new Date(today + days * dayMs)

  const upsert = (table: string, keys: ReadonlyArray<string>, rows: ReadonlyArray<Record<string, unknown>>) => {
    const [first, ...rest] = rows
    if (first === undefined) return Effect.void
    const updates = Object.keys(first).filter((c) => !keys.includes(c)).map((c) => `${c} = EXCLUDED.${c}`)
    return sql`INSERT INTO ${sql(table)} ${sql.insert([first, ...rest])}
      ON CONFLICT (${sql.literal(keys.join(", "))}) DO UPDATE SET ${sql.literal(updates.join(", "))}`
  }

  yield* sql.withTransaction(Effect.gen(function*() {
    yield* upsert("ref_users", ["user_id"], users.map(([user_id, display_name, language, country, status, created]) =>
      ({ user_id, display_name, language, country, status, created_at: new Date(created) })))
    yield* upsert("ref_balances", ["user_id", "currency"], balances.map(([user_id, amount]) =>
      ({ user_id, currency: "EUR", amount })))
    yield* upsert("ref_kyc", ["user_id"], kyc.map(([user_id, level, status]) => ({ user_id, level, status })))
    const noLimits = { deposit_daily: null, deposit_weekly: null, deposit_monthly: null, loss_daily: null }
    yield* upsert("ref_limits", ["user_id"], [
      { user_id: "demo-1", currency: "EUR", deposit_daily: "100.00", deposit_weekly: "500.00", deposit_monthly: "1500.00",
        loss_daily: "50.00", session_minutes: 120, self_excluded_until: null, reality_check_minutes: 60 },
      { user_id: "demo-2", currency: "EUR", ...noLimits, deposit_weekly: "200.00", session_minutes: null,
        self_excluded_until: null, reality_check_minutes: 30 },
      { user_id: "demo-4", currency: "EUR", ...noLimits, session_minutes: 60, self_excluded_until: day(180),
        reality_check_minutes: null }
    ])
    yield* upsert("ref_transactions", ["id"], transactions.map(([id, user_id, kind, amount, status, hoursAgo]) =>
      ({ id, user_id, kind, currency: "EUR", amount, status, created_at: new Date(today - hoursAgo * 3_600_000) })))
    yield* upsert("ref_tournaments", ["id"], tournaments.map(([id, title, starts, ends, prize, rules_url]) =>
      ({ id, title, starts_at: day(starts), ends_at: day(ends), prize_currency: prize === null ? null : "EUR",
        prize_amount: prize, rules_url })))
    yield* upsert("ref_leaderboard", ["tournament_id", "player_id"], Object.entries(scores).flatMap(([id, points]) =>
      players.map(([player_id, alias], i) => ({ tournament_id: id, player_id, alias, score: points[i]! }))))
    yield* upsert("ref_missions", ["user_id", "mission_id"], missions.map(
      ([user_id, mission_id, title, progress, target, reward, ends]) =>
        ({ user_id, mission_id, title, progress, target, reward, ends_at: ends === null ? null : day(ends) })
    ))
    yield* upsert("ref_promo_codes", ["code"], promoCodes.map(([code, bonus, expires, max_uses, min_kyc_level]) =>
      ({ code, bonus, expires_at: expires === null ? null : day(expires), max_uses, min_kyc_level })))
  }))
  return { users: users.length, transactions: transactions.length, tournaments: tournaments.length } satisfies Seeded
})
