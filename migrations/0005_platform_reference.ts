/**
 * The reference platform (`services/platform/Reference.ts`): a read-only stand-in for the operator's backend when
 * `PLATFORM_API_URL` is unset, filled by `npm run seed`. Amounts are `numeric` (read back as decimal strings,
 * never floats); a tournament's status follows from its dates; leaderboards hold public aliases only.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS ref_users (
      user_id       text PRIMARY KEY CHECK (length(user_id) BETWEEN 1 AND 128),
      display_name  text NOT NULL,
      language      text,
      country       text CHECK (country ~ '^[A-Z]{2}$'),
      status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
      created_at    timestamptz NOT NULL DEFAULT now()
    )
  `
  yield* sql`
    CREATE TABLE IF NOT EXISTS ref_balances (
      user_id   text NOT NULL REFERENCES ref_users ON DELETE CASCADE,
      currency  text NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
      amount    numeric NOT NULL,
      PRIMARY KEY (user_id, currency)
    )
  `
  yield* sql`
    CREATE TABLE IF NOT EXISTS ref_kyc (
      user_id  text PRIMARY KEY REFERENCES ref_users ON DELETE CASCADE,
      level    smallint NOT NULL CHECK (level BETWEEN 0 AND 3),
      status   text NOT NULL CHECK (status IN ('none', 'pending', 'verified', 'rejected'))
    )
  `
  yield* sql`
    CREATE TABLE IF NOT EXISTS ref_limits (
      user_id                text PRIMARY KEY REFERENCES ref_users ON DELETE CASCADE,
      currency               text NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
      deposit_daily          numeric CHECK (deposit_daily >= 0),
      deposit_weekly         numeric CHECK (deposit_weekly >= 0),
      deposit_monthly        numeric CHECK (deposit_monthly >= 0),
      loss_daily             numeric CHECK (loss_daily >= 0),
      session_minutes        integer CHECK (session_minutes >= 1),
      self_excluded_until    timestamptz,
      reality_check_minutes  integer CHECK (reality_check_minutes >= 1)
    )
  `
  yield* sql`
    CREATE TABLE IF NOT EXISTS ref_transactions (
      id          text PRIMARY KEY,
      user_id     text NOT NULL REFERENCES ref_users ON DELETE CASCADE,
      kind        text NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'bet', 'win', 'bonus', 'adjustment')),
      currency    text NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
      amount      numeric NOT NULL,
      status      text NOT NULL CHECK (status IN ('pending', 'completed', 'failed', 'cancelled')),
      created_at  timestamptz NOT NULL
    )
  `
  yield* sql`CREATE INDEX IF NOT EXISTS ref_transactions_by_user ON ref_transactions (user_id, created_at DESC, id DESC)`
  yield* sql`
    CREATE TABLE IF NOT EXISTS ref_tournaments (
      id             text PRIMARY KEY,
      title          text NOT NULL,
      starts_at      timestamptz NOT NULL,
      ends_at        timestamptz NOT NULL CHECK (ends_at > starts_at),
      prize_currency text CHECK (prize_currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
      prize_amount   numeric CHECK (prize_amount >= 0),
      rules_url      text,
      CHECK ((prize_currency IS NULL) = (prize_amount IS NULL))
    )
  `
  yield* sql`
    CREATE TABLE IF NOT EXISTS ref_leaderboard (
      tournament_id  text NOT NULL REFERENCES ref_tournaments ON DELETE CASCADE,
      player_id      text NOT NULL,
      alias          text NOT NULL,
      score          double precision NOT NULL,
      PRIMARY KEY (tournament_id, player_id)
    )
  `
  yield* sql`CREATE INDEX IF NOT EXISTS ref_leaderboard_by_score ON ref_leaderboard (tournament_id, score DESC)`
  yield* sql`
    CREATE TABLE IF NOT EXISTS ref_missions (
      user_id     text NOT NULL REFERENCES ref_users ON DELETE CASCADE,
      mission_id  text NOT NULL,
      title       text NOT NULL,
      progress    double precision NOT NULL CHECK (progress >= 0),
      target      double precision NOT NULL CHECK (target >= 0),
      reward      text NOT NULL,
      ends_at     timestamptz,
      PRIMARY KEY (user_id, mission_id)
    )
  `
})
