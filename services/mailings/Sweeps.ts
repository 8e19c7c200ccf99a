/**
 * The mailing runner's sweeps (notifier role, next to `Runner.ts`; every such process runs them, and running them
 * twice at once is harmless):
 * - every `sweepEvery` (a minute): a recipient queued longer than `staleAfter` (30 minutes: its outbox entry lost,
 *   e.g. Redis flushed) is put back to pending, for the next wave (cancelled, for a cancelled mailing); the
 *   sender's idempotency record keeps anyone from getting it twice. A pending recipient of a cancelled mailing
 *   (which nothing should leave behind) is cancelled;
 * - every hour: the recipients of mailings finished more than `retentionDays` (90) ago are deleted, one mailing
 *   per transaction, its counts kept on the mailing (`final_progress`, what `GET` answers then).
 */
import { Duration, Effect, Layer, Schedule } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { progressOf } from "./Model.ts"

/** Days after which a finished mailing's recipients are deleted (its counts stay on the mailing). */
export const retentionDays = 90

export const layerWith = (options: { readonly staleAfter: Duration.Input; readonly sweepEvery: Duration.Input }) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient
    const staleAfterS = Duration.toMillis(options.staleAfter) / 1000

    const requeueStale = sql<{ readonly mailing_id: string }>`
      UPDATE mailing_recipients r
      SET status = CASE WHEN m.status = 'cancelled' THEN 'cancelled' ELSE 'pending' END, pending_chats = '{}',
        outcomes = '{}', finished_at = CASE WHEN m.status = 'cancelled' THEN now() END
      FROM mailings m
      WHERE m.id = r.mailing_id AND m.status IN ('running', 'paused', 'cancelled') AND r.status = 'queued'
        AND r.queued_at < now() - make_interval(secs => ${staleAfterS})
      RETURNING r.mailing_id
    `.pipe(
      Effect.flatMap((rows) =>
        rows.length > 0 ? Effect.logWarning("stale mailing recipients queued again", { count: rows.length }) : Effect.void
      )
    )

    // Nothing should leave one (a cancel and a receipt read each other under locks), but a pending recipient of a
    // cancelled mailing would wait forever: cancelled here.
    const cancelLeftovers = sql<{ readonly mailing_id: string }>`
      UPDATE mailing_recipients r SET status = 'cancelled', finished_at = now()
      FROM mailings m
      WHERE m.id = r.mailing_id AND m.status = 'cancelled' AND r.status = 'pending'
      RETURNING r.mailing_id
    `.pipe(
      Effect.flatMap((rows) =>
        rows.length > 0 ? Effect.logWarning("pending recipients of cancelled mailings cancelled", { count: rows.length }) : Effect.void
      )
    )

    /** Deletes the recipients of one mailing finished long ago, keeping its counts; answers whether there was one. */
    const purgeOne = sql.withTransaction(Effect.gen(function*() {
      const rows = yield* sql<{ readonly id: string }>`
        SELECT id FROM mailings
        WHERE status IN ('completed', 'cancelled') AND final_progress IS NULL
          AND finished_at < now() - make_interval(days => ${retentionDays})
        ORDER BY finished_at LIMIT 1 FOR UPDATE SKIP LOCKED
      `
      const id = rows[0]?.id
      if (id === undefined) return false
      const counts = yield* sql<{ readonly status: string; readonly n: number }>`
        SELECT status, count(*)::integer AS n FROM mailing_recipients WHERE mailing_id = ${id} GROUP BY status
      `
      yield* sql`UPDATE mailings SET final_progress = ${JSON.stringify(progressOf(counts))}::jsonb WHERE id = ${id}`
      yield* sql`DELETE FROM mailing_recipients WHERE mailing_id = ${id}`
      yield* Effect.logInfo("old mailing's recipients deleted", { mailing: id })
      return true
    }))

    yield* Effect.andThen(requeueStale, cancelLeftovers).pipe(
      keepGoing<void>("sweep", undefined),
      Effect.repeat(Schedule.spaced(options.sweepEvery)),
      Effect.forkScoped
    )
    yield* purgeOne.pipe(
      Effect.repeat({ while: (purged) => purged }),
      keepGoing("purge", false),
      Effect.repeat(Schedule.spaced("1 hour")),
      Effect.forkScoped
    )
  }))

/** A failure of one round is logged and the loop goes on (`fallback` stands for its result). */
export const keepGoing = <A>(what: string, fallback: A) => <E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, never, R> =>
  effect.pipe(
    Effect.catch((error) => Effect.as(Effect.logWarning(`mailing runner: ${what} failed`, { error: String(error) }), fallback)),
    Effect.catchDefect((defect) => Effect.as(Effect.logError(`mailing runner: ${what} failed`, { defect: String(defect) }), fallback))
  )
