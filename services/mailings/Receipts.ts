/**
 * The mailings' receipts, in the sender role: each outbox message of a mailing carries the receipt
 * `<mailing id>:<seq>` (its recipient), and the sender tells its outcome here before acknowledging it.
 *
 * - `record`: the chat's outcome moves the recipient on (sent, blocked, failed, cancelled; held back by a pause:
 *   pending again, for the resume). A recipient with several chats finishes when the last one answers, with the
 *   best outcome among them. Only a chat still awaited counts, so an entry told twice (delivered again after a
 *   crash, or queued twice by a wave whose transaction rolled back) changes nothing the second time. A message
 *   can be sent before its wave's transaction commits: the runner locks the wave's recipients before queuing
 *   them, and a receipt locks its recipient whatever its status, so it waits for that commit and sees it.
 *   Outcomes of many messages are written together (one statement per batch of up to 500, gathered for 10 ms).
 * - `hold`: the mailings this process is sending are watched (their status read every 500 ms, one query for
 *   all); once one is paused or cancelled, its messages still waiting for a permit are given up at once.
 */
import { Deferred, Effect, Exit, Layer, Metric, Request, RequestResolver, Schedule } from "effect"
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
type Told = "sent" | "blocked" | "failed" | "unlinked" | "no_consent" | HoldOutcome

const toldOf: Record<ReceiptOutcome, Told> = {
  sent: "sent",
  unreachable: "blocked",
  dead_letter: "failed",
  unlinked: "unlinked",
  no_consent: "no_consent",
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

/** How often the status of the mailings being sent is read, and how long an unseen one stays watched. */
const watchEveryMs = 500
const forgetAfterMs = 10 * 60_000

type Watch = {
  /** Completed when the mailing's messages must be held back; replaced when it runs again. */
  halted: Deferred.Deferred<HoldOutcome>
  /** Completed once the first status was read. */
  readonly ready: Deferred.Deferred<void>
  seenAt: number
}

export const layer = Layer.effect(OutboxReceipts)(
  Effect.gen(function*() {
    const sql = yield* SqlClient
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

    const watchOf = (id: string) =>
      Effect.suspend(() => {
        const existing = watches.get(id)
        if (existing !== undefined) {
          existing.seenAt = Date.now()
          return Effect.as(Deferred.await(existing.ready), existing)
        }
        const watch: Watch = { halted: Deferred.makeUnsafe(), ready: Deferred.makeUnsafe(), seenAt: Date.now() }
        watches.set(id, watch)
        // Unknown until read: the message is sent meanwhile (a store outage must not stop the mailing).
        return refresh([id]).pipe(
          Effect.catch((error) => Effect.logWarning("mailing status unavailable", { mailing: id, error: String(error) })),
          Effect.ensuring(Deferred.succeed(watch.ready, undefined)),
          Effect.as(watch)
        )
      })

    yield* Effect.suspend(() => {
      const now = Date.now()
      for (const [id, watch] of watches) if (now - watch.seenAt > forgetAfterMs) watches.delete(id)
      return refresh([...watches.keys()])
    }).pipe(
      Effect.catch((error) => Effect.logWarning("mailing statuses unavailable", { error: String(error) })),
      Effect.repeat(Schedule.spaced(`${watchEveryMs} millis`)),
      Effect.forkScoped
    )

    /** Moves recipients on by their chats' outcomes; answers the statuses they reached. */
    const recordAll = (receipts: ReadonlyArray<Receipt>) =>
      Effect.gen(function*() {
        const withheld = [...new Set(receipts.filter((r) => r.told === "withheld").map((r) => r.mailingId))]
        // Held back by a pause: pending again, unless the mailing was cancelled meanwhile. Its row is read under a
        // share lock, so a cancel waits for this and then cancels what became pending (or this sees the cancel).
        const write = Effect.gen(function*() {
          const statuses = withheld.length === 0 ? [] : yield* sql<{ readonly id: string; readonly status: string }>`
            SELECT id, status FROM mailings WHERE id IN ${sql.in(withheld)} ORDER BY id FOR SHARE
          `
          const input = receipts.map((r) => ({
            m: r.mailingId,
            s: r.seq,
            c: r.chatId,
            o: r.told,
            ms: statuses.find((s) => s.id === r.mailingId)?.status ?? null
          }))
          return yield* sql<{ readonly status: string }>`
            WITH input AS (
              SELECT m, s, array_agg(c) AS chats, array_agg(o) AS outs, max(ms) AS ms
              FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb) AS x(m uuid, s integer, c bigint, o text, ms text)
              GROUP BY m, s
            ), locked AS (
              SELECT r.mailing_id, r.seq, r.status, r.pending_chats, r.outcomes, i.chats, i.outs, i.ms
              FROM mailing_recipients r JOIN input i ON r.mailing_id = i.m AND r.seq = i.s
              ORDER BY r.mailing_id, r.seq
              FOR UPDATE OF r
            ), told AS (
              SELECT mailing_id, seq, ms,
                ARRAY(SELECT p FROM unnest(pending_chats) AS p WHERE p <> ALL (chats)) AS pending,
                outcomes || ARRAY(SELECT u.o FROM unnest(chats, outs) AS u(c, o) WHERE u.c = ANY (pending_chats)) AS outcomes
              FROM locked
              WHERE status = 'queued' AND pending_chats && chats
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
            RETURNING n.status
          `
        })
        const reached = withheld.length === 0 ? yield* write : yield* sql.withTransaction(write)
        const counts = new Map<string, number>()
        for (const { status } of reached) counts.set(status, (counts.get(status) ?? 0) + 1)
        for (const [status, n] of counts) {
          if (status !== "queued") yield* Metric.update(Metrics.mailingRecipients(status === "pending" ? "withheld" : status), n)
        }
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
        return parsed === undefined ? Effect.never : Effect.flatMap(watchOf(parsed.mailingId), (w) => Deferred.await(w.halted))
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
