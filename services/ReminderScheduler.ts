/**
 * The notifier role's reminder scheduler: fires each due reminder once, across processes and restarts.
 *
 * Firing is one transaction: take the due pending reminders (`FOR UPDATE SKIP LOCKED`, so two processes never
 * take the same one), queue their messages through `Notifications` (the player asked: no consent needed; a chat
 * that blocked the bot or that the bot never talked with is skipped), mark them `fired` or `skipped` with the
 * reason, commit. The messages' idempotency key comes from the reminder's tournament and start
 * (`reminder:<tournament>:<start ms>:<chat>`): a process dying between queueing and commit leaves the reminders
 * pending, the next taker queues the same keys again, and the sender sends each key once. A reminder whose
 * tournament has started by the time it is taken (no process ran meanwhile) is skipped as `started`.
 *
 * Wake-up: the loop reads the earliest pending `fire_at` (one lookup in the partial index) and sleeps until then,
 * but never longer than `pollMs`, so a reminder set a moment before it is due is still seen within `pollMs`. A due
 * reminder is therefore taken within milliseconds of its time, or within `pollMs` when it was set less than
 * `pollMs` before it. The cost is four index lookups a second per notifier process when idle.
 *
 * In the background, every minute, pending reminders follow their tournament when the platform moved its start or
 * renamed it; ended reminders are deleted after 30 days.
 */
import { Cause, Clock, Duration, Effect, Layer, Metric, Schedule } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Metrics from "../src/metrics.ts"
import { Templates } from "../src/notify/Templates.ts"
import { Notifications } from "./Notifications.ts"
import { Platform } from "./Platform.ts"
import { reminderFields } from "./Reminders.ts"

/** The longest sleep between two looks for due reminders. */
const pollMs = 250
/** Due reminders taken by another process: look again shortly (they are fired or released by then). */
const busyMs = 50
/** After a failure (Postgres or Redis unavailable). */
const failureMs = 1000
/** Reminders taken per transaction. */
const batch = 200

type DueRow = {
  readonly id: string | number
  readonly chat_id: string | number
  readonly tournament_id: string
  readonly tournament_name: string
  readonly starts_at: Date
  readonly rules_url: string | null
  readonly fire_at: Date
}

/** The idempotency key of a tournament's reminders (per chat, `Notifications` appends the chat). */
export const reminderKey = (tournamentId: string, startsAt: Date): string => `reminder:${tournamentId}:${startsAt.getTime()}`

/** The scheduler's steps (`fireDue`, `follow`, `purge`) and `run`, which forks its loops into the scope. */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient
  const notifications = yield* Notifications
  const templates = yield* Templates
  const platform = yield* Platform

  /** Fires the due reminders not taken by another process, up to `batch`; answers how many it took. */
  const fireDue = Effect.fn("ReminderScheduler.fire")(function*() {
    const done = yield* sql.withTransaction(Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const due = yield* sql<DueRow>`
        SELECT id, chat_id, tournament_id, tournament_name, starts_at, rules_url, fire_at FROM reminders
        WHERE status = 'pending' AND fire_at <= ${new Date(now)}
        ORDER BY fire_at
        LIMIT ${batch}
        FOR UPDATE SKIP LOCKED
      `
      const outcomes = new Map<string, string>()
      const groups = new Map<string, Array<DueRow>>()
      for (const row of due) {
        if (row.starts_at.getTime() <= now) {
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
          requested: true
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
      for (const [outcome, ids] of byOutcome) {
        const fired = outcome === "fired"
        yield* sql`
          UPDATE reminders SET status = ${fired ? "fired" : "skipped"}, skip_reason = ${fired ? null : outcome},
            fired_at = ${new Date(now)}
          WHERE id IN ${sql.in(ids)}
        `
      }
      return { now, due, byOutcome }
    }))
    // Counted once committed.
    for (const [outcome, ids] of done.byOutcome) {
      yield* Metric.update(Metrics.reminders(outcome === "fired" ? "fired" : `skipped_${outcome}`), ids.length)
    }
    const fired = new Set(done.byOutcome.get("fired"))
    for (const row of done.due) {
      if (fired.has(String(row.id))) {
        yield* Metric.update(Metrics.reminderDelay, Math.max(0, done.now - row.fire_at.getTime()) / 1000)
      }
    }
    return done.due.length
  })

  /** One look: fires what is due; answers how long to sleep before the next look. */
  const step = Effect.gen(function*() {
    const rows = yield* sql<{ readonly next: Date | null }>`
      SELECT min(fire_at) AS next FROM reminders WHERE status = 'pending'
    `
    const next = rows[0]?.next ?? null
    const now = yield* Clock.currentTimeMillis
    if (next === null) return pollMs
    if (next.getTime() > now) return Math.min(next.getTime() - now, pollMs)
    const taken = yield* fireDue()
    return taken === 0 ? busyMs : 0
  })

  const loop = Effect.gen(function*() {
    while (true) {
      const wait = yield* step.pipe(
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.as(
            Effect.logWarning("reminders not fired, retrying", { cause: Cause.pretty(cause).slice(0, 500) }),
            failureMs
          )
        )
      )
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
    }
  })

  /** Pending reminders follow their tournament's start, name and rules page as the platform has them now. */
  const follow = Effect.fn("ReminderScheduler.follow")(function*() {
    const pending = yield* sql<Omit<DueRow, "id" | "chat_id" | "fire_at">>`
      SELECT DISTINCT tournament_id, starts_at, tournament_name, rules_url FROM reminders WHERE status = 'pending'
    `
    if (pending.length === 0) return
    const upcoming = yield* platform.tournaments({ status: "upcoming" })
    for (const tournament of upcoming) {
      const kept = pending.filter((p) => p.tournament_id === tournament.id)
      if (kept.length === 0) continue
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
  })

  const purge = sql`
    DELETE FROM reminders WHERE status <> 'pending' AND created_at < now() - interval '30 days'
  `

  const background = <A, E>(what: string, effect: Effect.Effect<A, E>, every: Duration.Input) =>
    effect.pipe(
      Effect.catch((error) => Effect.logWarning(what, { error: String(error).slice(0, 300) })),
      Effect.repeat(Schedule.spaced(every)),
      Effect.forkScoped
    )

  const run = Effect.gen(function*() {
    yield* Effect.forkScoped(loop)
    yield* background("reminders not brought up to date with the platform", follow(), "1 minute")
    yield* background("ended reminders not purged", purge, "1 hour")
  })

  return { fireDue, follow, purge, run }
})

/** The scheduler's loops, for the notifier role. */
export const layer = Layer.effectDiscard(Effect.flatMap(make, (scheduler) => scheduler.run))
