/**
 * The mailing runner (notifier role; every such process runs one, and they share the work through Postgres row
 * locks): starts scheduled mailings at `send_at` and releases running ones wave by wave into the outbox's bulk
 * lane.
 *
 * A wave is one transaction holding the mailing's row (`FOR UPDATE SKIP LOCKED`: one process per mailing at a
 * time, others take other mailings): the next `wave_size` pending recipients in order go through
 * `Notifications` (consent, link, reachability, language: one query for the wave) into the outbox, with the
 * message key `mailing:<id>:<chat>` and the receipt `<id>:<seq>`, and are marked queued or skipped with the wave
 * number; the next wave may go after the pause plus a random jitter. Queuing into Redis may take at most
 * `enqueueTimeout` (5 s): else the wave rolls back and is tried again a second later, so pause, resume and cancel
 * (which wait up to 3 s for the row) are not kept waiting on Redis. A crash or a timeout before the commit leaves
 * the recipients pending: the messages already queued are sent, and their receipts mark the recipients reached
 * (`Receipts.ts`); the next wave queues the others again under the same keys, and the sender's idempotency record
 * sends each chat once. Pausing or cancelling waits for the row, so it never splits a wave.
 *
 * Flow control: a wave is released only once at most half a wave is still in the outbox. So the outbox holds at
 * most 1.5 waves of a mailing (the bulk lane's rate, not the runner, sets the pace), and at least half of the
 * previous wave has answered (or was skipped) before the next goes. (A pause or a cancel stops the sending at once
 * whatever is queued, see `Receipts.ts`.) While waves wait, the answered recipients of the waves not judged yet
 * are weighed whenever an answer came in since the last look (every 250 ms at most): a block or failure rate above
 * the mailing's limit, once `min_sample` have answered, pauses it, with the reason. With `min_sample` at most
 * half a wave, a bad wave pauses the mailing before the next one goes; with a larger one, up to
 * `min_sample / wave_size + 1/2` waves (rounded up) may go before the first is weighed. The mailing completes
 * when no recipient is pending or queued.
 *
 * The layer also runs the sweeps (`Sweeps.ts`): stale queued recipients back to pending, and old recipients purged.
 */
import { Duration, Effect, Layer, Metric, Random } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Metrics from "../../src/metrics.ts"
import { Templates } from "../../src/notify/Templates.ts"
import { type Delivery, Notifications, type SkipReason } from "../Notifications.ts"
import type { MailingRow, RecipientStatus } from "./Model.ts"
import { receiptOf } from "./Receipts.ts"
import * as Segments from "./Segments.ts"
import * as Sweeps from "./Sweeps.ts"

export type Options = {
  /** How long a released recipient may wait for its outcome before it is queued again. */
  readonly staleAfter: Duration.Input
  /** How often stale recipients (and pending ones of cancelled mailings) are looked for. */
  readonly sweepEvery: Duration.Input
  /** How long a wave may wait for the outbox (Redis) before its transaction rolls back. */
  readonly enqueueTimeout: Duration.Input
}

export const defaults: Options = { staleAfter: "30 minutes", sweepEvery: "1 minute", enqueueTimeout: "5 seconds" }

/** The longest the runner sleeps without looking for due mailings. */
const idleMs = 1000
/** How soon a mailing waiting for answers is looked at again: before its next wave, and before it completes. */
const flowCheckMs = 250
const completionCheckMs = 1000

/** What the runner reads of a due mailing. */
type Due = Pick<MailingRow, "id" | "template" | "vars" | "consent" | "wave_size" | "wave_pause_ms" | "jitter_ms" |
  "max_block_rate" | "max_failure_rate" | "min_sample" | "waves"> & { readonly judged_wave: number }

type WaveStats = {
  readonly wave: number
  readonly open: number
  readonly answered: number
  readonly blocked: number
  readonly failed: number
}

const skipped: Record<SkipReason, RecipientStatus> = {
  unlinked: "skipped_unlinked",
  unknown_chat: "skipped_unlinked",
  no_consent: "skipped_no_consent",
  unreachable: "skipped_unreachable"
}

/** The runner with its timings (tests shorten them). */
export const layerWith = (options: Options) => Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* SqlClient
  const templates = yield* Templates
  const notifications = yield* Notifications

  /**
   * What this process last weighed of each mailing (its queued count, waves released and judged): weighed again
   * only when that changed, since an answer moves a recipient out of `queued`.
   */
  const weighed = new Map<string, string>()

  /** Waits `ms`, then the mailing is looked at again (others due meanwhile go first). */
  const later = (id: string, ms: number) =>
    sql`UPDATE mailings SET next_wave_at = now() + make_interval(secs => ${ms / 1000}) WHERE id = ${id}`

  const pauseFor = (id: string, reason: string) =>
    Effect.gen(function*() {
      yield* sql`
        UPDATE mailings SET status = 'paused', pause_reason = ${reason}, paused_at = now(), updated_at = now()
        WHERE id = ${id}
      `
      weighed.delete(id)
      yield* Metric.update(Metrics.mailingEvents("auto_paused"), 1)
      yield* Effect.logWarning("mailing paused", { mailing: id, reason })
    })

  const startDue = sql.withTransaction(Effect.gen(function*() {
    const rows = yield* sql<{ readonly id: string }>`
      SELECT id FROM mailings WHERE status = 'scheduled' AND (send_at IS NULL OR send_at <= now())
      ORDER BY send_at NULLS FIRST LIMIT 1 FOR UPDATE SKIP LOCKED
    `
    if (rows[0] === undefined) return false
    yield* Segments.start(sql, rows[0].id)
    yield* Metric.update(Metrics.mailingEvents("started"), 1)
    yield* Effect.logInfo("mailing started", { mailing: rows[0].id })
    return true
  }))

  /** The reason to pause, if the answered recipients of the waves not judged yet are blocking or failing too often. */
  const judge = (m: Due) =>
    Effect.gen(function*() {
      const waves = yield* sql<WaveStats>`
        SELECT wave,
          count(*) FILTER (WHERE status = 'queued')::integer AS open,
          count(*) FILTER (WHERE status IN ('sent', 'blocked', 'failed'))::integer AS answered,
          count(*) FILTER (WHERE status = 'blocked')::integer AS blocked,
          count(*) FILTER (WHERE status = 'failed')::integer AS failed
        FROM mailing_recipients WHERE mailing_id = ${m.id} AND wave > ${m.judged_wave}
        GROUP BY wave ORDER BY wave
      `
      const answered = waves.reduce((n, w) => n + w.answered, 0)
      if (answered >= m.min_sample) {
        const seen = waves.filter((w) => w.answered > 0)
        const where = seen.length <= 1 ? `wave ${seen[0]?.wave}` : `waves ${seen[0]!.wave}-${seen[seen.length - 1]!.wave}`
        const blocked = waves.reduce((n, w) => n + w.blocked, 0)
        const failed = waves.reduce((n, w) => n + w.failed, 0)
        if (blocked / answered > m.max_block_rate) {
          return `block rate ${percent(blocked / answered)} in ${where} is above ${percent(m.max_block_rate)} ` +
            `(${blocked} of ${answered} recipients answered have blocked the bot)`
        }
        if (failed / answered > m.max_failure_rate) {
          return `failure rate ${percent(failed / answered)} in ${where} is above ${percent(m.max_failure_rate)} ` +
            `(${failed} of ${answered} messages refused by Telegram or failing; npm run dead-letters -- list --outbox)`
        }
      }
      // Waves that are over and weighed together with enough answers are not weighed again.
      let through = m.judged_wave
      let closed = 0
      for (const w of waves) {
        if (w.open > 0) break
        closed += w.answered
        if (closed >= m.min_sample) through = w.wave
      }
      if (through > m.judged_wave) yield* sql`UPDATE mailings SET judged_wave = ${through} WHERE id = ${m.id}`
      return undefined
    })

  const release = (m: Due) =>
    Effect.gen(function*() {
      const prepared = yield* Effect.result(templates.prepare(m.template, m.vars))
      if (prepared._tag === "Failure") {
        return yield* pauseFor(m.id, `the template cannot be sent: ${prepared.failure.message}`)
      }
      // Locked before their messages enter the outbox: a receipt arriving before this commits waits for it.
      const recipients = yield* sql<{ readonly seq: number; readonly platform_user_id: string }>`
        SELECT seq, platform_user_id FROM mailing_recipients
        WHERE mailing_id = ${m.id} AND status = 'pending' ORDER BY seq LIMIT ${m.wave_size}
        FOR UPDATE
      `
      const seqOf = new Map(recipients.map((r) => [r.platform_user_id, r.seq]))
      const wave = m.waves + 1
      // Redis not answering must not keep the mailing's row (and its recipients) locked: the wave rolls back.
      const deliveries = yield* notifications.notify({
        prepared: { ...prepared.success, consent: m.consent ?? undefined },
        targets: recipients.map((r) => ({ userId: r.platform_user_id })),
        idempotencyKey: `mailing:${m.id}`,
        lane: "bulk",
        receiptOf: (target) => receiptOf(m.id, seqOf.get(userOf(target))!)
      }).pipe(Effect.timeout(options.enqueueTimeout))
      const marks = deliveries.map((d: Delivery) => ({
        s: seqOf.get(userOf(d.target))!,
        st: "skipped" in d ? skipped[d.skipped] : "queued",
        chats: "skipped" in d ? [] : d.queued
      }))
      yield* sql`
        UPDATE mailing_recipients r SET status = x.st, wave = ${wave}, pending_chats = x.chats, outcomes = '{}',
          queued_at = now(), finished_at = CASE WHEN x.st = 'queued' THEN NULL ELSE now() END
        FROM jsonb_to_recordset(${JSON.stringify(marks)}::jsonb) AS x(s integer, st text, chats bigint[])
        WHERE r.mailing_id = ${m.id} AND r.seq = x.s AND r.status = 'pending'
      `
      const jitter = m.jitter_ms > 0 ? yield* Random.nextIntBetween(0, m.jitter_ms) : 0
      yield* sql`
        UPDATE mailings SET waves = ${wave}, updated_at = now(),
          next_wave_at = now() + make_interval(secs => ${(m.wave_pause_ms + jitter) / 1000})
        WHERE id = ${m.id}
      `
      yield* Metric.update(Metrics.mailingWaves, 1)
      const counts = new Map<string, number>()
      for (const mark of marks) counts.set(mark.st, (counts.get(mark.st) ?? 0) + 1)
      for (const [result, n] of counts) yield* Metric.update(Metrics.mailingRecipients(result), n)
    })

  /** Looks at the running mailing due first; answers whether there was one. */
  const releaseDue = sql.withTransaction(Effect.gen(function*() {
    const rows = yield* sql<Due>`
      SELECT id, template, vars, consent, wave_size, wave_pause_ms, jitter_ms, max_block_rate, max_failure_rate,
        min_sample, waves, judged_wave
      FROM mailings WHERE status = 'running' AND next_wave_at <= now()
      ORDER BY next_wave_at LIMIT 1 FOR UPDATE SKIP LOCKED
    `
    const m = rows[0]
    if (m === undefined) return false
    const [state] = yield* sql<{ readonly queued: number; readonly pending: boolean }>`
      SELECT (SELECT count(*)::integer FROM mailing_recipients WHERE mailing_id = ${m.id} AND status = 'queued') AS queued,
        EXISTS (SELECT 1 FROM mailing_recipients WHERE mailing_id = ${m.id} AND status = 'pending') AS pending
    `
    if (!state!.pending) {
      if (state!.queued > 0) return yield* Effect.as(later(m.id, completionCheckMs), true)
      yield* sql`UPDATE mailings SET status = 'completed', finished_at = now(), updated_at = now() WHERE id = ${m.id}`
      weighed.delete(m.id)
      yield* Metric.update(Metrics.mailingEvents("completed"), 1)
      yield* Effect.logInfo("mailing completed", { mailing: m.id, waves: m.waves })
      return true
    }
    // Nothing answered since the last look (the same recipients queued): the verdict has not changed.
    const look = `${state!.queued}:${m.waves}:${m.judged_wave}`
    if (weighed.get(m.id) !== look) {
      const verdict = yield* judge(m)
      if (verdict !== undefined) return yield* Effect.as(pauseFor(m.id, verdict), true)
      weighed.set(m.id, look)
    }
    if (state!.queued > m.wave_size / 2) return yield* Effect.as(later(m.id, flowCheckMs), true)
    yield* release(m)
    return true
  }))

  /** Until the next mailing is due (at most `idleMs`, at least 50 ms: a due one may be another process's). */
  const idle = Effect.map(
    sql<{ readonly ms: number | null }>`
      SELECT LEAST(
        (SELECT EXTRACT(EPOCH FROM min(next_wave_at) - now()) * 1000 FROM mailings WHERE status = 'running'),
        (SELECT EXTRACT(EPOCH FROM min(COALESCE(send_at, now())) - now()) * 1000 FROM mailings WHERE status = 'scheduled')
      )::float8 AS ms
    `,
    (rows) => Math.min(idleMs, Math.max(50, rows[0]?.ms ?? idleMs))
  )

  const tick = Effect.gen(function*() {
    const started = yield* startDue
    const released = yield* releaseDue
    return started || released ? 0 : yield* idle
  })

  yield* tick.pipe(
    Sweeps.keepGoing("tick", idleMs),
    Effect.flatMap((ms) => ms > 0 ? Effect.sleep(Duration.millis(ms)) : Effect.yieldNow),
    Effect.forever,
    Effect.forkScoped
  )
})).pipe(Layer.merge(Sweeps.layerWith(options)))

export const layer = layerWith(defaults)

const userOf = (target: { readonly userId: string } | { readonly chatId: number }): string =>
  "userId" in target ? target.userId : String(target.chatId)

const percent = (rate: number): string => `${(rate * 100).toFixed(1)}%`
