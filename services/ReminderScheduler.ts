/**
 * The notifier role's reminder scheduler: fires each due reminder once, across processes and restarts.
 *
 * Firing is one transaction: take the due pending reminders (`FOR UPDATE SKIP LOCKED`, so two processes never
 * take the same one), queue their messages through `Notifications` (the player asked: no consent needed; a chat
 * that blocked the bot or that the bot never talked with is skipped), mark them `fired` or `skipped` with the
 * reason, commit. The messages' idempotency key comes from the reminder's tournament and start
 * (`reminder:<tournament>:<start ms>:<chat>`): a process dying between queueing and commit leaves the reminders
 * pending, the next taker queues the same keys again, and the sender sends each key once. A reminder whose
 * tournament has started by the time it is taken (no process ran meanwhile) is skipped as `started`; a message
 * still waiting in the outbox at the start is not sent (its deadline, `notAfter`, is the start).
 *
 * Time is the database's, not this host's (unlike the rest of the code, which takes it from `Clock`): every
 * notifier process decides "due" and "started" against the one clock they share, so a host whose clock runs
 * ahead cannot fire early and one that lags cannot fire late.
 *
 * Wake-up: the loop reads how long until the earliest pending `fire_at` (one lookup in the partial index) and
 * sleeps that long, but never longer than `pollMs`, so a reminder set a moment before it is due is still seen
 * within `pollMs`. A due reminder is therefore queued within milliseconds of its time, or within `pollMs` when it
 * was set less than `pollMs` before it. The cost is four index lookups a second per notifier process when idle.
 *
 * A firing transaction is given `transactionTimeout`. Batches that keep failing are fired one reminder at a time,
 * so one reminder that cannot be fired holds back no other; one that keeps failing while the rest works is
 * skipped as `error`.
 *
 * In the background, every minute, pending reminders follow their tournament when the platform moved its start or
 * renamed it, and are skipped when the tournament left the platform's upcoming list (`not_upcoming`, or `started`
 * when it is running: started early) on two passes in a row; ended reminders are deleted 30 days after they ended.
 */
import { Cause, Duration, Effect, Exit, Layer, Metric, Schedule } from "effect"
import * as Redis from "effect/persistence/Redis"
import { SqlClient } from "effect/sql/SqlClient"
import * as Metrics from "../src/metrics.ts"
import { Templates } from "../src/notify/Templates.ts"
import { Notifications } from "./Notifications.ts"
import { Platform } from "./Platform.ts"
import { datesParse, reminderFields } from "./Reminders.ts"

/** The longest sleep between two looks for due reminders. */
const pollMs = 250
/** Due reminders taken by another process: look again shortly (they are fired or released by then). */
const busyMs = 50
/** After a failure (Postgres or Redis unavailable). */
const failureMs = 1000
/** Reminders taken per transaction. */
const batch = 200
/** A firing transaction (Postgres and Redis I/O) taking longer is given up and rolled back. */
const transactionTimeout = Duration.seconds(10)
/** Batches failing this many times in a row: the due reminders are fired one at a time. */
const batchAttempts = 3
/** A reminder failing this many times in a row on its own, while the rest works: skipped as `error`. */
const rowAttempts = 3

type DueRow = {
  readonly id: string | number
  readonly chat_id: string | number
  readonly tournament_id: string
  readonly tournament_name: string
  readonly starts_at: Date
  readonly rules_url: string | null
  readonly started: boolean
}

/** The idempotency key of a tournament's reminders (per chat, `Notifications` appends the chat). */
export const reminderKey = (tournamentId: string, startsAt: Date): string => `reminder:${tournamentId}:${startsAt.getTime()}`

/** The scheduler's steps (`fireDue`, `fireOneByOne`, `follow`, `purge`) and `run`, which forks its loops. */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient
  const notifications = yield* Notifications
  const templates = yield* Templates
  const platform = yield* Platform
  const redis = yield* Redis.Redis

  /**
   * Fires the due reminders not taken by another process, up to `batch` (or only the reminder `only`); answers
   * how many it took. "Due" and "started" are judged at `now()`, the transaction's start: one instant for the
   * whole batch that is never later than the real time (so never early), and a stable value Postgres can bound
   * the `fire_at` index scan with (`clock_timestamp()` changes per row and would scan every pending reminder).
   * `fired_at` is `clock_timestamp()` once the messages are queued.
   */
  const fireDue = Effect.fn("ReminderScheduler.fire")(function*(only?: string) {
    const done = yield* sql.withTransaction(Effect.gen(function*() {
      const due = yield* sql<DueRow>`
        SELECT id, chat_id, tournament_id, tournament_name, starts_at, rules_url, starts_at <= now() AS started
        FROM reminders
        WHERE status = 'pending' AND fire_at <= now() ${only === undefined ? sql`` : sql`AND id = ${only}`}
        ORDER BY fire_at
        LIMIT ${batch}
        FOR UPDATE SKIP LOCKED
      `
      const outcomes = new Map<string, string>()
      const groups = new Map<string, Array<DueRow>>()
      for (const row of due) {
        if (row.started) {
          outcomes.set(String(row.id), "started")
          continue
        }
        // One message for all the chats of a tournament: one template, one look-up of the chats.
        const key = JSON.stringify([row.tournament_id, row.starts_at.getTime(), row.tournament_name, row.rules_url])
        const group = groups.get(key)
        if (group === undefined) groups.set(key, [row])
        else group.push(row)
      }
      for (const rows of groups.values()) {
        const first = rows[0]!
        const prepared = yield* templates.prepare("tournament_reminder", {
          tournament_id: first.tournament_id,
          tournament_name: first.tournament_name,
          starts_at: first.starts_at.toISOString(),
          ...(first.rules_url === null ? {} : { rules_url: first.rules_url })
        }).pipe(Effect.result)
        if (prepared._tag === "Failure") {
          yield* Effect.logWarning("reminders not sendable", { tournament: first.tournament_id, error: prepared.failure.message })
          for (const row of rows) outcomes.set(String(row.id), "invalid")
          continue
        }
        const deliveries = yield* notifications.notify({
          prepared: prepared.success,
          targets: rows.map((row) => ({ chatId: Number(row.chat_id) })),
          idempotencyKey: reminderKey(first.tournament_id, first.starts_at),
          lane: "notify",
          requested: true,
          // A big tournament's reminders leave at the sending rate: one still queued at the start is not sent.
          notAfter: first.starts_at.getTime()
        })
        deliveries.forEach((delivery, i) =>
          outcomes.set(String(rows[i]!.id), "skipped" in delivery ? delivery.skipped : "fired"))
      }
      const byOutcome = new Map<string, Array<string>>()
      for (const [id, outcome] of outcomes) {
        const ids = byOutcome.get(outcome)
        if (ids === undefined) byOutcome.set(outcome, [id])
        else ids.push(id)
      }
      const delays: Array<number> = []
      for (const [outcome, ids] of byOutcome) {
        const fired = outcome === "fired"
        const marked = yield* sql<{ readonly delay_s: number | string }>`
          UPDATE reminders SET status = ${fired ? "fired" : "skipped"}, skip_reason = ${fired ? null : outcome},
            fired_at = clock_timestamp()
          WHERE id IN ${sql.in(ids)}
          RETURNING extract(epoch FROM fired_at - fire_at)::float8 AS delay_s
        `
        if (fired) delays.push(...marked.map((row) => Number(row.delay_s)))
      }
      return { taken: due.length, byOutcome, delays }
    })).pipe(Effect.timeout(transactionTimeout))
    // Counted once committed.
    for (const [outcome, ids] of done.byOutcome) {
      yield* Metric.update(Metrics.reminders(outcome === "fired" ? "fired" : `skipped_${outcome}`), ids.length)
    }
    for (const delay of done.delays) yield* Metric.update(Metrics.reminderDelay, Math.max(0, delay))
    return done.taken
  })

  /** Skips a reminder that cannot be fired (`error`), so it holds back no other. */
  const giveUp = (id: string) =>
    Effect.gen(function*() {
      const rows = yield* sql`
        UPDATE reminders SET status = 'skipped', skip_reason = 'error', fired_at = clock_timestamp()
        WHERE id = ${id} AND status = 'pending'
        RETURNING id
      `
      if (rows.length === 0) return
      yield* Metric.update(Metrics.reminders("skipped_error"), 1)
      yield* Effect.logError("reminder skipped: it kept failing", { reminder: id })
    })

  /**
   * The due reminders fired one at a time, each in its own transaction (after batches kept failing), the ones
   * that failed before last. A reminder's failure counts against it (`failures`, by id) only when the fault is
   * plausibly its own: another reminder fired in the same pass, or it was the only one tried and Redis answers a
   * PING (were Postgres down, marking it would fail too). When several fail and none fires, the fault is Postgres
   * or Redis and none is blamed. At `rowAttempts` a reminder is skipped as `error`. Answers how many failed.
   */
  const fireOneByOne = Effect.fn("ReminderScheduler.fireOneByOne")(function*(failures: Map<string, number>) {
    const due = yield* sql<{ readonly id: string | number }>`
      SELECT id FROM reminders WHERE status = 'pending' AND fire_at <= now() ORDER BY fire_at LIMIT ${batch}
    `
    const ids = due.map((row) => String(row.id))
      .sort((a, b) => Number(failures.has(a)) - Number(failures.has(b)))
    let fired = 0
    const failed: Array<string> = []
    for (const id of ids) {
      const exit = yield* Effect.exit(fireDue(id))
      if (Exit.isSuccess(exit)) {
        fired++
        failures.delete(id)
        continue
      }
      if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.failCause(exit.cause)
      failed.push(id)
      yield* Effect.logWarning("reminder not fired", { reminder: id, cause: Cause.pretty(exit.cause).slice(0, 500) })
    }
    if (failed.length === 0) {
      failures.clear()
      return 0
    }
    const own = fired > 0 ||
      (failed.length === 1 && Exit.isSuccess(yield* Effect.exit(redis.send("PING").pipe(Effect.timeout("1 second")))))
    if (!own) return failed.length
    for (const id of failed) {
      const count = (failures.get(id) ?? 0) + 1
      if (count < rowAttempts) {
        failures.set(id, count)
        continue
      }
      yield* giveUp(id)
      failures.delete(id)
    }
    return failed.length
  })

  /** One look: fires what is due; answers how long to sleep before the next look (the database's clock). */
  const step = Effect.gen(function*() {
    const rows = yield* sql<{ readonly wait_ms: number | string | null }>`
      SELECT (extract(epoch FROM min(fire_at) - clock_timestamp()) * 1000)::float8 AS wait_ms
      FROM reminders WHERE status = 'pending'
    `
    const wait = rows[0]?.wait_ms ?? null
    if (wait === null) return pollMs
    if (Number(wait) > 0) return Math.min(Math.ceil(Number(wait)), pollMs)
    const taken = yield* fireDue()
    return taken === 0 ? busyMs : 0
  })

  const loop = Effect.gen(function*() {
    let batchFailures = 0
    const rowFailures = new Map<string, number>()
    while (true) {
      const oneByOne = batchFailures >= batchAttempts
      const exit = yield* Effect.exit(oneByOne ? fireOneByOne(rowFailures) : step)
      let wait: number
      if (Exit.isSuccess(exit)) {
        // One by one until a pass fails nothing; then batches again.
        if (!oneByOne || exit.value === 0) batchFailures = 0
        wait = oneByOne ? (exit.value === 0 ? 0 : failureMs) : exit.value
      } else {
        if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.failCause(exit.cause)
        if (!oneByOne) batchFailures++
        yield* Effect.logWarning("reminders not fired, retrying", { cause: Cause.pretty(exit.cause).slice(0, 500) })
        wait = failureMs
      }
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
    }
  })

  /** Tournaments of pending reminders that were missing from the upcoming list at the last pass. */
  const missing = new Set<string>()

  const skipTournaments = (ids: ReadonlyArray<string>, reason: "not_upcoming" | "started") =>
    Effect.gen(function*() {
      if (ids.length === 0) return
      const rows = yield* sql`
        UPDATE reminders SET status = 'skipped', skip_reason = ${reason}, fired_at = clock_timestamp()
        WHERE tournament_id IN ${sql.in(ids)} AND status = 'pending'
        RETURNING id
      `
      yield* Metric.update(Metrics.reminders(`skipped_${reason}`), rows.length)
      yield* Effect.logInfo("reminders of tournaments no longer upcoming skipped", { tournaments: ids, reason, reminders: rows.length })
    })

  /**
   * Pending reminders follow their tournament's start, name and rules page as the platform has them now; those of
   * a tournament missing from the upcoming list on this pass and the one before (one missing answer may be the
   * platform's glitch) are skipped: `started` when it is running (started early), else `not_upcoming`.
   */
  const follow = Effect.fn("ReminderScheduler.follow")(function*() {
    const pending = yield* sql<Pick<DueRow, "tournament_id" | "starts_at" | "tournament_name" | "rules_url">>`
      SELECT DISTINCT tournament_id, starts_at, tournament_name, rules_url FROM reminders WHERE status = 'pending'
    `
    if (pending.length === 0) return missing.clear()
    const upcoming = yield* platform.tournaments({ status: "upcoming" })
    for (const tournament of upcoming) {
      const kept = pending.filter((p) => p.tournament_id === tournament.id)
      if (kept.length === 0) continue
      if (!datesParse(tournament)) {
        yield* Effect.logWarning("tournament with unreadable dates not followed", { tournament: tournament.id })
        continue
      }
      const current = reminderFields(tournament)
      const changed = kept.some((p) =>
        p.starts_at.getTime() !== current.startsAt.getTime() || p.tournament_name !== current.tournamentName ||
        p.rules_url !== current.rulesUrl
      )
      if (!changed) continue
      const rows = yield* sql`
        UPDATE reminders SET starts_at = ${current.startsAt}, fire_at = ${current.fireAt},
          tournament_name = ${current.tournamentName}, rules_url = ${current.rulesUrl}
        WHERE tournament_id = ${tournament.id} AND status = 'pending'
        RETURNING id
      `
      yield* Effect.logInfo("reminders follow their tournament", {
        tournament: tournament.id,
        starts_at: current.startsAt.toISOString(),
        reminders: rows.length
      })
    }
    const listed = new Set(upcoming.map((t) => t.id))
    const gone = [...new Set(pending.map((p) => p.tournament_id))].filter((id) => !listed.has(id))
    const confirmed = gone.filter((id) => missing.has(id))
    missing.clear()
    for (const id of gone) missing.add(id)
    if (confirmed.length === 0) return
    const running = new Set((yield* platform.tournaments({ status: "running" })).map((t) => t.id))
    yield* skipTournaments(confirmed.filter((id) => running.has(id)), "started")
    yield* skipTournaments(confirmed.filter((id) => !running.has(id)), "not_upcoming")
  })

  /** Deletes reminders that ended (fired, skipped, cancelled) more than 30 days ago. */
  const purge = sql`
    DELETE FROM reminders
    WHERE status <> 'pending' AND COALESCE(fired_at, cancelled_at, created_at) < now() - interval '30 days'
  `

  /** A background pass repeated `every`; any failure (a defect too) is logged and the next pass runs. */
  const background = <A, E>(what: string, effect: Effect.Effect<A, E>, every: Duration.Input) =>
    effect.pipe(
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.failCause(cause)
          : Effect.logWarning(what, { cause: Cause.pretty(cause).slice(0, 500) })
      ),
      Effect.repeat(Schedule.spaced(every)),
      Effect.forkScoped
    )

  const run = Effect.gen(function*() {
    yield* Effect.forkScoped(loop)
    yield* background("reminders not brought up to date with the platform", follow(), "1 minute")
    yield* background("ended reminders not purged", purge, "1 hour")
  })

  return { fireDue, fireOneByOne, follow, purge, run }
})

/** The scheduler's loops, for the notifier role. */
export const layer = Layer.effectDiscard(Effect.flatMap(make, (scheduler) => scheduler.run))
