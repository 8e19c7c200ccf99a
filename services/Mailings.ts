/**
 * Mailings: one template sent to a segment of players, in waves, through the outbox's bulk lane; started,
 * watched, paused, resumed and cancelled by the platform's CRM through `/v1/internal/mailings`.
 *
 * This service is the mailing's record and its transitions; the waves are released by the notifier role's
 * runner (`mailings/Runner.ts`) and the outcomes come back from the sender role (`mailings/Receipts.ts`).
 * Everything lives in Postgres (see migration 0011), so any process may carry on where another stopped.
 *
 * Transitions: `scheduled` -> `running` (at `send_at`, by the runner) -> `completed` (nobody left to send to);
 * `scheduled`/`running` -> `paused` (by the operator, or by the runner when a wave's block or failure rate is too
 * high, with the reason) -> `running` again on resume; anything not finished -> `cancelled`. Asking for the
 * status a mailing already has changes nothing (a retried request is harmless), except that pausing a paused
 * mailing with a reason replaces its reason; a finished mailing cannot be paused or resumed, a completed one not
 * cancelled, and a started one paused more than `resumableHours` ago not resumed (the sender's record of what
 * it sent is gone: cancel it and create a new one for the players not reached).
 *
 * A transition waits at most 3 s for the mailing's row (`lock_timeout`; the runner holds it while a wave goes
 * into Redis, at most 5 s), else it fails with `MailingBusy` and changes nothing. Ids are UUIDs in any case.
 */
import { Clock, Context, Effect, Layer, Metric } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Crypto from "node:crypto"
import * as Metrics from "../src/metrics.ts"
import { type TemplateError, Templates } from "../src/notify/Templates.ts"
import type { ConsentType } from "./Identity.ts"
import {
  type Action,
  defaults,
  IllegalTransition,
  InvalidMailing,
  type Mailing,
  MailingBusy,
  MailingError,
  MailingNotFound,
  type MailingRow,
  type MailingStatus,
  type NewMailing,
  PausedTooLong,
  progressOf,
  resumableHours
} from "./mailings/Model.ts"
import * as Segments from "./mailings/Segments.ts"

export type { Mailing, NewMailing }

/** A mailing without its counts (lists). */
export type MailingRecord = Omit<Mailing, "progress" | "ratePerSecond">

export class Mailings extends Context.Service<Mailings, {
  /** Creates a mailing (started at once unless `send_at` is ahead); `created: false` for a repeated request. */
  readonly create: (request: NewMailing) => Effect.Effect<
    { readonly mailing: Mailing; readonly created: boolean },
    MailingError | TemplateError | SqlError
  >
  readonly get: (id: string) => Effect.Effect<Mailing, MailingError | SqlError>
  /** The latest mailings first. */
  readonly list: (options: {
    readonly limit: number
    readonly status?: MailingStatus | undefined
  }) => Effect.Effect<ReadonlyArray<MailingRecord>, SqlError>
  readonly pause: (id: string, reason?: string) => Effect.Effect<Mailing, MailingError | SqlError>
  readonly resume: (id: string) => Effect.Effect<Mailing, MailingError | SqlError>
  readonly cancel: (id: string) => Effect.Effect<Mailing, MailingError | SqlError>
}>()("tg-gateway/services/Mailings") {
  static readonly layer = Layer.effect(Mailings)(
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const templates = yield* Templates

      const notFound = (id: string) => new MailingError({ reason: new MailingNotFound({ id }) })

      const row = (id: string) =>
        Effect.gen(function*() {
          if (!uuidPattern.test(id)) return yield* notFound(id)
          const rows = yield* sql<MailingRow>`SELECT * FROM mailings WHERE id = ${id}`
          if (rows[0] === undefined) return yield* notFound(id)
          return rows[0]
        })

      // Both counts are index-only scans of (mailing_id, status, finished_at). A mailing whose recipients were
      // purged answers the counts kept when they were.
      const get = Effect.fn("Mailings.get")(function*(given: string) {
        const id = given.toLowerCase()
        const found = yield* row(id)
        const mailing = toRecord(found)
        if (found.final_progress !== null) return { ...mailing, progress: found.final_progress, ratePerSecond: 0 } satisfies Mailing
        const counts = yield* sql<{ readonly status: string; readonly n: number }>`
          SELECT status, count(*)::integer AS n FROM mailing_recipients WHERE mailing_id = ${id} GROUP BY status
        `
        const recent = yield* sql<{ readonly n: number }>`
          SELECT count(*)::integer AS n FROM mailing_recipients
          WHERE mailing_id = ${id} AND status = 'sent' AND finished_at > now() - interval '10 seconds'
        `
        return { ...mailing, progress: progressOf(counts), ratePerSecond: (recent[0]?.n ?? 0) / 10 } satisfies Mailing
      })

      const byKey = (key: string) => sql<{ readonly id: string }>`SELECT id FROM mailings WHERE idempotency_key = ${key}`

      const create = Effect.fn("Mailings.create")(function*(request: NewMailing) {
        if (request.idempotency_key !== undefined) {
          const existing = yield* byKey(request.idempotency_key)
          if (existing[0] !== undefined) return { mailing: yield* get(existing[0].id), created: false }
        }
        const prepared = yield* templates.prepare(request.template, request.vars ?? {})
        if (request.consent !== undefined && prepared.consent !== undefined && request.consent !== prepared.consent) {
          return yield* new MailingError({
            reason: new InvalidMailing({
              code: "consent_not_allowed",
              reason: `template ${request.template} is sent to players who accept ${prepared.consent}; ` +
                `a mailing cannot ask for another consent instead`
            })
          })
        }
        const consent: ConsentType | null = prepared.consent ?? request.consent ?? null
        const now = yield* Clock.currentTimeMillis
        const sendAt = request.send_at === undefined ? null : new Date(request.send_at)
        const id = Crypto.randomUUID()
        const listed = "user_ids" in request.segment ? request.segment.user_ids : undefined
        const inserted = yield* sql.withTransaction(Effect.gen(function*() {
          const rows = yield* sql<{ readonly id: string }>`
            INSERT INTO mailings (id, name, template, vars, consent, segment, status, send_at, wave_size, wave_pause_ms,
              jitter_ms, max_block_rate, max_failure_rate, min_sample, idempotency_key, created_by)
            VALUES (${id}, ${request.name ?? null}, ${request.template}, ${JSON.stringify(request.vars ?? {})}::jsonb,
              ${consent}, ${JSON.stringify(Segments.describe(request.segment, new Set(listed ?? []).size))}::jsonb,
              'scheduled', ${sendAt}, ${request.wave_size ?? defaults.waveSize},
              ${request.wave_pause_ms ?? defaults.wavePauseMs}, ${request.jitter_ms ?? defaults.jitterMs},
              ${request.max_block_rate ?? defaults.maxBlockRate}, ${request.max_failure_rate ?? defaults.maxFailureRate},
              ${request.min_sample ?? defaults.minSample}, ${request.idempotency_key ?? null}, ${request.created_by ?? null})
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id
          `
          if (rows[0] === undefined) return false
          if (listed !== undefined) {
            const count = yield* Segments.insertList(sql, id, listed)
            yield* sql`UPDATE mailings SET recipients = ${count} WHERE id = ${id}`
          }
          if (sendAt === null || sendAt.getTime() <= now) yield* Segments.start(sql, id)
          return true
        }))
        if (!inserted) {
          // The same key created a mailing meanwhile: that one is the answer.
          const existing = yield* byKey(request.idempotency_key!)
          return { mailing: yield* get(existing[0]!.id), created: false }
        }
        yield* Metric.update(Metrics.mailingEvents("created"), 1)
        yield* Effect.logInfo("mailing created", { mailing: id, template: request.template, created_by: request.created_by ?? null })
        return { mailing: yield* get(id), created: true }
      })

      /**
       * Runs a transition under the mailing's row lock (the runner releases waves under the same lock), waiting for
       * it at most 3 s. `apply` answers whether the status changed.
       */
      const transition = (
        given: string,
        action: Action,
        apply: (current: Current) => Effect.Effect<boolean, MailingError | SqlError>
      ) =>
        Effect.gen(function*() {
          const id = given.toLowerCase()
          const changed = yield* sql.withTransaction(Effect.gen(function*() {
            if (!uuidPattern.test(id)) return yield* notFound(id)
            yield* sql`SET LOCAL lock_timeout = '3s'`
            const rows = yield* sql<Current>`
              SELECT id, status, started_at IS NOT NULL AS started, paused_at,
                paused_at < now() - make_interval(hours => ${resumableHours}) AS paused_long
              FROM mailings WHERE id = ${id} FOR UPDATE
            `
            if (rows[0] === undefined) return yield* notFound(id)
            return yield* apply(rows[0])
          })).pipe(
            Effect.catchIf(
              (error): error is SqlError => error._tag === "SqlError" && error.reason._tag === "LockTimeoutError",
              () => Effect.fail(new MailingError({ reason: new MailingBusy({ id }) }))
            )
          )
          if (changed) {
            yield* Metric.update(Metrics.mailingEvents(action === "pause" ? "paused" : action === "resume" ? "resumed" : "cancelled"), 1)
            yield* Effect.logInfo(`mailing ${action}`, { mailing: id })
          }
          return yield* get(id)
        })

      const refuse = (id: string, action: Action, status: MailingStatus) =>
        new MailingError({ reason: new IllegalTransition({ id, action, status }) })

      // Pausing a paused mailing again changes only its reason, when one is given (the operator's note replaces
      // the runner's); `paused_at` stays when the sending stopped.
      const pause = Effect.fn("Mailings.pause")(function*(id: string, reason?: string) {
        return yield* transition(id, "pause", ({ id, status }) => {
          if (status === "completed" || status === "cancelled") return Effect.fail(refuse(id, "pause", status))
          if (status === "paused") {
            return reason === undefined ? Effect.succeed(false) : sql`
              UPDATE mailings SET pause_reason = ${reason}, updated_at = now() WHERE id = ${id}
            `.pipe(
              Effect.andThen(Effect.logInfo("mailing pause reason changed", { mailing: id })),
              Effect.as(false)
            )
          }
          return Effect.as(sql`
            UPDATE mailings SET status = 'paused', pause_reason = ${reason ?? "paused by the operator"}, paused_at = now(),
              updated_at = now()
            WHERE id = ${id}
          `, true)
        })
      })

      // A resumed mailing does not judge again the waves released before its pause: the operator has seen them.
      // Its next wave waits 1 s: senders see the resume within 500 ms, and hold back the mailing's messages until then.
      const resume = Effect.fn("Mailings.resume")(function*(id: string) {
        return yield* transition(id, "resume", ({ id, paused_at, paused_long, started, status }) => {
          if (status === "running" || status === "scheduled") return Effect.succeed(false)
          if (status === "completed" || status === "cancelled") return Effect.fail(refuse(id, "resume", status))
          if (started && paused_long && paused_at !== null) {
            return Effect.fail(new MailingError({ reason: new PausedTooLong({ id, pausedAt: paused_at }) }))
          }
          return Effect.as(sql`
            UPDATE mailings SET status = CASE WHEN started_at IS NULL THEN 'scheduled' ELSE 'running' END,
              pause_reason = NULL, paused_at = NULL, next_wave_at = now() + interval '1 second', judged_wave = waves,
              updated_at = now()
            WHERE id = ${id}
          `, true)
        })
      })

      // Recipients not released yet are cancelled here; those in the outbox are told so by the sender, which no
      // longer sends them (one already on its way is sent and counted).
      const cancel = Effect.fn("Mailings.cancel")(function*(id: string) {
        return yield* transition(id, "cancel", ({ id, status }) => {
          if (status === "cancelled") return Effect.succeed(false)
          if (status === "completed") return Effect.fail(refuse(id, "cancel", status))
          return Effect.gen(function*() {
            yield* sql`
              UPDATE mailings SET status = 'cancelled', finished_at = now(), next_wave_at = now(), updated_at = now()
              WHERE id = ${id}
            `
            yield* sql`
              UPDATE mailing_recipients SET status = 'cancelled', finished_at = now()
              WHERE mailing_id = ${id} AND status = 'pending'
            `
            return true
          })
        })
      })

      const list = Effect.fn("Mailings.list")(function*(options: { readonly limit: number; readonly status?: MailingStatus | undefined }) {
        const rows = yield* sql<MailingRow>`
          SELECT * FROM mailings ${options.status === undefined ? sql`` : sql`WHERE status = ${options.status}`}
          ORDER BY created_at DESC LIMIT ${options.limit}
        `
        return rows.map(toRecord)
      })

      return { create, get, list, pause, resume, cancel }
    })
  )
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** A mailing as a transition sees it, under its row lock. */
type Current = {
  readonly id: string
  readonly status: MailingStatus
  readonly started: boolean
  readonly paused_at: Date | null
  /** Paused more than `resumableHours` ago. */
  readonly paused_long: boolean | null
}


const toRecord = (row: MailingRow): MailingRecord => ({
  id: row.id,
  name: row.name,
  template: row.template,
  vars: row.vars,
  consent: row.consent,
  segment: row.segment,
  status: row.status,
  pauseReason: row.pause_reason,
  sendAt: row.send_at,
  waveSize: row.wave_size,
  wavePauseMs: row.wave_pause_ms,
  jitterMs: row.jitter_ms,
  maxBlockRate: row.max_block_rate,
  maxFailureRate: row.max_failure_rate,
  minSample: row.min_sample,
  recipients: row.recipients,
  waves: row.waves,
  nextWaveAt: row.status === "running" ? row.next_wave_at : null,
  createdBy: row.created_by,
  createdAt: row.created_at,
  startedAt: row.started_at,
  pausedAt: row.paused_at,
  finishedAt: row.finished_at
})
