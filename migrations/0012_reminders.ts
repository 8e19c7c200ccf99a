/**
 * "Remind me 5 minutes before": one row per reminder a player set (`services/Reminders.ts`), fired by the notifier
 * role's scheduler (`services/ReminderScheduler.ts`). The tournament's name, start and rules page are copied at
 * set time (and refreshed from the platform while pending), so firing needs no call to the platform.
 *
 * A player has at most one pending reminder per tournament (setting it again is idempotent); fired, skipped and
 * cancelled rows stay as history, purged 30 days after they ended (`reminders_ended`). `fired_at` is when the
 * scheduler fired or skipped the reminder (the database's clock); `cancelled_by` what cancelled it (`update:<id>`
 * or `app`), so the same update handled again answers as the first time did. The scheduler finds due reminders
 * through the partial index on `fire_at`, which holds pending rows only.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS reminders (
      id                bigserial PRIMARY KEY,
      telegram_user_id  bigint NOT NULL,
      chat_id           bigint NOT NULL,
      tournament_id     text NOT NULL,
      tournament_name   text NOT NULL,
      starts_at         timestamptz NOT NULL,
      rules_url         text,
      fire_at           timestamptz NOT NULL CHECK (fire_at < starts_at),
      status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'fired', 'skipped', 'cancelled')),
      skip_reason       text,
      source            text NOT NULL,
      created_at        timestamptz NOT NULL DEFAULT now(),
      fired_at          timestamptz,
      cancelled_at      timestamptz,
      cancelled_by      text
    )
  `
  yield* sql`
    CREATE UNIQUE INDEX IF NOT EXISTS reminders_pending_once ON reminders (telegram_user_id, tournament_id)
    WHERE status = 'pending'
  `
  yield* sql`CREATE INDEX IF NOT EXISTS reminders_due ON reminders (fire_at) WHERE status = 'pending'`
  yield* sql`CREATE INDEX IF NOT EXISTS reminders_pending_tournament ON reminders (tournament_id) WHERE status = 'pending'`
  yield* sql`CREATE INDEX IF NOT EXISTS reminders_cancelled_by ON reminders (cancelled_by) WHERE status = 'cancelled'`
  yield* sql`CREATE INDEX IF NOT EXISTS reminders_ended ON reminders ((COALESCE(fired_at, cancelled_at, created_at)))
    WHERE status <> 'pending'`
})
