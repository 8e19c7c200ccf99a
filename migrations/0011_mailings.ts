/**
 * Mailings (`services/Mailings.ts`): a template sent to a segment of players in waves, with its state in Postgres
 * so a restart or a crash resumes where it stopped.
 *
 * - `mailings`: one row per mailing: what it sends (template, vars, consent), to whom (`segment`: the query and
 *   its parameters, or the size of the list given), how (wave size, pause, jitter, auto-pause thresholds), where
 *   it stands (status, pause reason, waves released, when the next may go, waves already judged for auto-pause).
 * - `mailing_recipients`: one row per player and mailing (a player listed twice is one row: the inserts drop
 *   repeats, no unique index is kept for it), numbered in the order given (`seq`). `status` moves `pending` -> `queued` (in the outbox; `pending_chats` are the chats whose
 *   outcome is still awaited, `outcomes` those already told) -> `sent` | `blocked` | `failed` | `cancelled`, or
 *   straight to a `skipped_*` reason. A message held back by a pause, or given up because the sender's Redis
 *   kept failing, goes back to `pending`. Recipients of a mailing finished long ago are deleted (the runner's
 *   purge), its counts kept in `mailings.final_progress`.
 * - Indexes on recipients, each for a query: the primary key (receipts, the purge), pending by `seq` (the next
 *   wave), released by wave (auto-pause), and status (+ `finished_at`) per mailing: the progress counts and the
 *   rate read it index-only; the queued count and the stale sweep use it too.
 * - `mailing_recipient_result`: the final status of a recipient from its chats' outcomes.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS mailings (
      id                uuid PRIMARY KEY,
      name              text,
      template          text NOT NULL,
      vars              jsonb NOT NULL DEFAULT '{}'::jsonb,
      consent           text CHECK (consent IN ('promotions', 'tournaments', 'payouts')),
      segment           jsonb NOT NULL,
      status            text NOT NULL CHECK (status IN ('scheduled', 'running', 'paused', 'completed', 'cancelled')),
      pause_reason      text,
      send_at           timestamptz,
      wave_size         integer NOT NULL CHECK (wave_size > 0),
      wave_pause_ms     integer NOT NULL CHECK (wave_pause_ms >= 0),
      jitter_ms         integer NOT NULL CHECK (jitter_ms >= 0),
      max_block_rate    double precision NOT NULL,
      max_failure_rate  double precision NOT NULL,
      min_sample        integer NOT NULL CHECK (min_sample > 0),
      recipients        integer NOT NULL DEFAULT 0,
      waves             integer NOT NULL DEFAULT 0,
      judged_wave       integer NOT NULL DEFAULT 0,
      next_wave_at      timestamptz NOT NULL DEFAULT now(),
      idempotency_key   text UNIQUE,
      created_by        text,
      created_at        timestamptz NOT NULL DEFAULT now(),
      started_at        timestamptz,
      paused_at         timestamptz,
      finished_at       timestamptz,
      final_progress    jsonb,
      updated_at        timestamptz NOT NULL DEFAULT now()
    )
  `
  yield* sql`CREATE INDEX IF NOT EXISTS mailings_due ON mailings (next_wave_at) WHERE status = 'running'`
  yield* sql`CREATE INDEX IF NOT EXISTS mailings_scheduled ON mailings (send_at) WHERE status = 'scheduled'`
  yield* sql`CREATE INDEX IF NOT EXISTS mailings_created ON mailings (created_at DESC)`
  yield* sql`
    CREATE TABLE IF NOT EXISTS mailing_recipients (
      mailing_id        uuid NOT NULL REFERENCES mailings (id) ON DELETE CASCADE,
      seq               integer NOT NULL,
      platform_user_id  text NOT NULL,
      status            text NOT NULL DEFAULT 'pending' CHECK (status IN (
                          'pending', 'queued', 'sent', 'blocked', 'failed', 'cancelled',
                          'skipped_unlinked', 'skipped_no_consent', 'skipped_unreachable')),
      wave              integer,
      pending_chats     bigint[] NOT NULL DEFAULT '{}',
      outcomes          text[] NOT NULL DEFAULT '{}',
      queued_at         timestamptz,
      finished_at       timestamptz,
      PRIMARY KEY (mailing_id, seq)
    )
  `
  yield* sql`
    CREATE INDEX IF NOT EXISTS mailing_recipients_pending ON mailing_recipients (mailing_id, seq) WHERE status = 'pending'
  `
  yield* sql`
    CREATE INDEX IF NOT EXISTS mailing_recipients_wave ON mailing_recipients (mailing_id, wave) WHERE wave IS NOT NULL
  `
  yield* sql`
    CREATE INDEX IF NOT EXISTS mailing_recipients_status ON mailing_recipients (mailing_id, status, finished_at)
  `
  // A recipient whose chats all answered: held back by a pause, or given up while the sender's Redis failed ->
  // pending again (cancelled if the mailing is); else the best outcome of its chats (one chat reached is a
  // recipient reached).
  yield* sql`
    CREATE OR REPLACE FUNCTION mailing_recipient_result(outcomes text[], mailing_status text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
      SELECT CASE
        WHEN 'withheld' = ANY (outcomes) OR 'store_unavailable' = ANY (outcomes)
          THEN CASE WHEN mailing_status = 'cancelled' THEN 'cancelled' ELSE 'pending' END
        WHEN 'sent' = ANY (outcomes) THEN 'sent'
        WHEN 'blocked' = ANY (outcomes) THEN 'blocked'
        WHEN 'failed' = ANY (outcomes) THEN 'failed'
        WHEN 'no_consent' = ANY (outcomes) THEN 'skipped_no_consent'
        WHEN 'unlinked' = ANY (outcomes) THEN 'skipped_unlinked'
        ELSE 'cancelled'
      END
    $$
  `
})
