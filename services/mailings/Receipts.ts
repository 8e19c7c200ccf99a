/**
 * The mailings' receipts, in the sender role: each outbox message of a mailing carries the receipt
 * `<mailing id>:<seq>` (its recipient), and the sender tells its outcome here before acknowledging it.
 *
 * - `record`: the chat's outcome moves the recipient on (sent, blocked, failed, cancelled; held back by a pause,
 *   or given up while the sender's Redis failed: pending again, for a later wave). A recipient with several chats
 *   finishes when the last one answers, with the best outcome among them. Only a chat still awaited counts, so an
 *   entry told twice (delivered again after a crash, or queued twice by a wave whose transaction rolled back)
 *   changes nothing the second time. A message can be sent before its wave's transaction commits: the runner
 *   locks the wave's recipients before queuing them, and a receipt locks its recipient whatever its status, so it
 *   waits for that commit and sees it. A message whose wave rolled back after queuing it (a crash, a timeout) is
 *   told about a recipient that is `pending` again: a final answer still counts then (`sent` always, from any
 *   status but queued; `blocked` for a pending one), so a recipient really reached is never queued again.
 *   Every recipient's outcome is weighed with its mailing's status (held back in a cancelled mailing:
 *   cancelled); a batch that holds recipients back share-locks their mailings first, so a cancel racing it waits
 *   for it and then cancels what became pending (or the batch sees the cancel). Outcomes of many messages are
 *   written together (one statement per batch of up to 500, gathered for 10 ms).
 * - `hold`: the mailings this process is sending are watched (their status read every 500 ms, one query for
 *   all); once one is paused or cancelled, its messages still waiting for a permit are given up at once. A watch
 *   is forgotten 10 minutes after its last message stopped waiting on it, never while one waits.
 */
import { Clock, Deferred, Duration, Effect, Exit, Layer, Metric, Request, RequestResolver, Schedule } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Metrics from "../../src/metrics.ts"
import { type HoldOutcome, OutboxReceipts, ReceiptError, type ReceiptOutcome } from "../../streams/OutboxReceipts.ts"

/** The receipt of a mailing's recipient. */
export const receiptOf = (mailingId: string, seq: number): string => `${mailingId}:${seq}`

const parse = (receipt: string) => {
  const match = /^([0-9a-f-]{36}):(\d{1,9})$/.exec(receipt)
  return match === null ? undefined : { mailingId: match[1]!, seq: Number(match[2]) }
}

/** What a chat's outcome means for its recipient. */
type Told = "sent" | "blocked" | "failed" | "unlinked" | "no_consent" | "store_unavailable" | HoldOutcome

const toldOf: Record<ReceiptOutcome, Told> = {
  sent: "sent",
  unreachable: "blocked",
  dead_letter: "failed",
  unlinked: "unlinked",
  no_consent: "no_consent",
  // Mailings set no deadline; a late message would be one that could not be sent.
  late: "failed",
  // Not a failure of the message: pending again, and not counted in the failure rate.
  store_unavailable: "store_unavailable",
  withheld: "withheld",
  cancelled: "cancelled"
}

interface Receipt extends Request.Request<void, SqlError> {
  readonly mailingId: string
  readonly seq: number
  readonly chatId: number
  readonly told: Told
}
const Receipt = Request.of<Receipt>()

/** How often the status of the mailings being sent is read. */
const watchEveryMs = 500

type Watch = {
  /** Completed when the mailing's messages must be held back; replaced when it runs again. */
  halted: Deferred.Deferred<HoldOutcome>
  /** Completed once the first status was read. */
  readonly ready: Deferred.Deferred<void>
  /** Messages waiting on `halted` now; a watch with waiters is never forgotten. */
  waiters: number
  /** When the last waiter stopped waiting (or the watch was made). */
  seenAt: number
}

/** The receipts, forgetting a watch no message waits on after `forgetAfter` (tests shorten it). */
export const layerWith = (options: { readonly forgetAfter: Duration.Input }) => Layer.effect(OutboxReceipts)(
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const forgetAfterMs = Duration.toMillis(options.forgetAfter)
    const watches = new Map<string, Watch>()

    const apply = (statuses: ReadonlyMap<string, string>, ids: ReadonlyArray<string>) => {
      for (const id of ids) {
        const watch = watches.get(id)
        if (watch === undefined) continue
        const status = statuses.get(id)
        // A mailing deleted meanwhile is as good as cancelled.
        const held: HoldOutcome | undefined = status === "paused" ? "withheld"
          : status === "cancelled" || status === undefined ? "cancelled" : undefined
        if (held !== undefined) Deferred.doneUnsafe(watch.halted, Effect.succeed(held))
        else if (Deferred.isDoneUnsafe(watch.halted)) watch.halted = Deferred.makeUnsafe()
      }
    }

    const refresh = (ids: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        if (ids.length === 0) return
        const rows = yield* sql<{ readonly id: string; readonly status: string }>`
          SELECT id, status FROM mailings WHERE id IN ${sql.in(ids)}
        `
        apply(new Map(rows.map((r) => [r.id, r.status])), ids)
      })

    /** The mailing's watch, one more waiter counted on it (and whether it is new: its first status is not read). */
    const acquire = (id: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const existing = watches.get(id)
        if (existing !== undefined) {
          existing.waiters++
          return { id, watch: existing, fresh: false }
        }
        const watch: Watch = { halted: Deferred.makeUnsafe(), ready: Deferred.makeUnsafe(), waiters: 1, seenAt: now }
        watches.set(id, watch)
        return { id, watch, fresh: true }
      })

    /** Completes once the mailing's messages must be held back; its first status is read by the watch's maker. */
    const halted = ({ fresh, id, watch }: { readonly id: string; readonly watch: Watch; readonly fresh: boolean }) =>
      Effect.andThen(
        fresh
          // Unknown until read: the message is sent meanwhile (a store outage must not stop the mailing).
          ? refresh([id]).pipe(
            Effect.catch((error) => Effect.logWarning("mailing status unavailable", { mailing: id, error: String(error) })),
            Effect.ensuring(Deferred.succeed(watch.ready, undefined))
          )
          : Deferred.await(watch.ready),
        Effect.suspend(() => Deferred.await(watch.halted))
      )

    const release = ({ watch }: { readonly watch: Watch }) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        watch.waiters--
        watch.seenAt = now
      })

    yield* Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      for (const [id, watch] of watches) if (watch.waiters === 0 && now - watch.seenAt > forgetAfterMs) watches.delete(id)
      yield* refresh([...watches.keys()])
    }).pipe(
      Effect.catch((error) => Effect.logWarning("mailing statuses unavailable", { error: String(error) })),
      Effect.repeat(Schedule.spaced(`${watchEveryMs} millis`)),
      Effect.forkScoped
    )

    /** Moves recipients on by their chats' outcomes; answers the statuses they reached. */
    const recordAll = (receipts: ReadonlyArray<Receipt>) =>
      Effect.gen(function*() {
        const input = receipts.map((r) => ({ m: r.mailingId, s: r.seq, c: r.chatId, o: r.told }))
        // A queued recipient takes the outcomes of the chats it still awaits. Any other (its wave rolled back
        // after queuing, or it was swept back to pending) takes only a final answer: sent (whatever it was but
        // sent: the message did reach the player), or blocked for a pending one. The mailing's status is read
        // for every recipient: a recipient held back (now or on another chat before) is cancelled, not pending,
        // in a cancelled mailing.
        const write = sql<{ readonly status: string; readonly requeued: boolean }>`
          WITH input AS (
            SELECT m, s, array_agg(c) AS chats, array_agg(o) AS outs
            FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb) AS x(m uuid, s integer, c bigint, o text)
            GROUP BY m, s
          ), locked AS (
            SELECT r.mailing_id, r.seq, r.status, r.pending_chats, r.outcomes, i.chats, i.outs, m.status AS ms
            FROM mailing_recipients r
            JOIN input i ON r.mailing_id = i.m AND r.seq = i.s
            LEFT JOIN mailings m ON m.id = r.mailing_id
            ORDER BY r.mailing_id, r.seq
            FOR UPDATE OF r
          ), told AS (
            -- One SELECT, no UNION: a recipient locked while its wave commits is seen again (EvalPlanQual), and
            -- Postgres drops such a row from the UPDATE when it comes through a UNION ALL.
            SELECT mailing_id, seq, ms,
              CASE WHEN status = 'queued' THEN ARRAY(SELECT p FROM unnest(pending_chats) AS p WHERE p <> ALL (chats))
                ELSE '{}'::bigint[] END AS pending,
              CASE WHEN status = 'queued'
                THEN outcomes || ARRAY(SELECT u.o FROM unnest(chats, outs) AS u(c, o) WHERE u.c = ANY (pending_chats))
                WHEN 'sent' = ANY (outs) THEN ARRAY['sent'] ELSE ARRAY['blocked'] END AS outcomes
            FROM locked
            WHERE (status = 'queued' AND pending_chats && chats)
              OR (status NOT IN ('queued', 'sent') AND ('sent' = ANY (outs) OR (status = 'pending' AND 'blocked' = ANY (outs))))
          ), next AS (
            SELECT mailing_id, seq, pending, outcomes,
              CASE WHEN cardinality(pending) > 0 THEN 'queued' ELSE mailing_recipient_result(outcomes, ms) END AS status
            FROM told
          )
          UPDATE mailing_recipients r SET
            status = n.status,
            pending_chats = n.pending,
            outcomes = CASE WHEN n.status = 'pending' THEN '{}' ELSE n.outcomes END,
            finished_at = CASE WHEN n.status IN ('queued', 'pending') THEN NULL ELSE now() END
          FROM next n
          WHERE r.mailing_id = n.mailing_id AND r.seq = n.seq
          RETURNING n.status, n.status = 'pending' AND 'store_unavailable' = ANY (n.outcomes) AS requeued
        `
        // Outcomes that put a recipient back to pending: their mailings are share-locked first, so a cancel waits
        // for this batch (and then cancels what became pending), or this batch waits for the cancel and sees it.
        // Other batches do not wait for a wave being released (they would, on the mailing's row); a recipient
        // left pending by a cancel racing one of them (a chat held back earlier) is cancelled by the runner's sweep.
        const holding = [...new Set(receipts.filter((r) => r.told === "withheld" || r.told === "store_unavailable").map((r) => r.mailingId))]
        const reached = holding.length === 0 ? yield* write : yield* sql.withTransaction(Effect.andThen(
          sql`SELECT 1 FROM mailings WHERE id IN ${sql.in(holding.sort())} ORDER BY id FOR SHARE`,
          write
        ))
        const counts = new Map<string, number>()
        for (const { requeued, status } of reached) {
          const result = status === "pending" ? (requeued ? "store_unavailable" : "withheld") : status
          counts.set(result, (counts.get(result) ?? 0) + 1)
        }
        for (const [result, n] of counts) if (result !== "queued") yield* Metric.update(Metrics.mailingRecipients(result), n)
      })

    const resolver = RequestResolver.make<Receipt>((entries) =>
      Effect.flatMap(Effect.exit(recordAll(entries.map((e) => e.request))), (exit) =>
        Effect.sync(() => {
          for (const entry of entries) entry.completeUnsafe(Exit.isSuccess(exit) ? Exit.void : Exit.failCause(exit.cause))
        }))
    ).pipe(RequestResolver.setDelay("10 millis"), RequestResolver.batchN(500))

    return {
      hold: (receipt) => {
        const parsed = parse(receipt)
        return parsed === undefined
          ? Effect.never
          : Effect.acquireUseRelease(acquire(parsed.mailingId), halted, release)
      },
      record: (receipt, chatId, outcome) => {
        const parsed = parse(receipt)
        if (parsed === undefined) return Effect.logWarning("outbox receipt not a mailing's", { receipt })
        return Effect.request(Receipt({ ...parsed, chatId, told: toldOf[outcome] }), resolver).pipe(
          Effect.mapError((cause) => new ReceiptError({ cause }))
        )
      }
    }
  })
)

export const layer = layerWith({ forgetAfter: "10 minutes" })
