/**
 * The mailings' receipts on the real Postgres, told outcomes directly (as the sender tells them):
 * - a message sent before its wave's transaction commits: its receipt waits for the commit and counts (many at once);
 * - a final answer for a recipient that is pending again (its wave rolled back after queuing it) still counts:
 *   `sent` from any status but queued, `blocked` for a pending one; other answers leave it pending, and an answer
 *   told twice changes nothing;
 * - the sender's Redis failing through every attempt (`store_unavailable`) puts a queued recipient back to pending,
 *   not failed; in a cancelled mailing it is cancelled;
 * - a recipient held back by a pause on one chat and answered later on its other chat is cancelled when the
 *   mailing was cancelled in between (whatever the later batch holds);
 * - a watch is kept while a message waits on it: a pause long after the message started waiting still holds it
 *   back (the watch would be forgotten after a second with no waiter).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Crypto from "node:crypto"
import * as Postgres from "../../../layers/Postgres.ts"
import * as Receipts from "../../../services/mailings/Receipts.ts"
import { OutboxReceipts } from "../../../streams/OutboxReceipts.ts"
import { testDatabase } from "../../support/Infra.ts"

const setup = Effect.gen(function*() {
  const databaseUrl = yield* testDatabase
  const context = yield* Layer.build(
    Receipts.layerWith({ forgetAfter: "1 second" }).pipe(Layer.provideMerge(Postgres.layerUrl(Redacted.make(databaseUrl))))
  )
  const sql = Context.get(context, SqlClient)
  const receipts = Context.get(context, OutboxReceipts)

  /** A mailing with the given status and recipients (seq 1..n), each as given. */
  const mailing = (status: string, recipients: ReadonlyArray<{ readonly status: string; readonly chats?: ReadonlyArray<number> }>) =>
    Effect.gen(function*() {
      const id = Crypto.randomUUID()
      yield* sql`
        INSERT INTO mailings (id, template, segment, status, wave_size, wave_pause_ms, jitter_ms, max_block_rate,
          max_failure_rate, min_sample, recipients)
        VALUES (${id}, 'promo_announcement', '{}'::jsonb, ${status}, 10, 0, 0, 0.05, 0.2, 10, ${recipients.length})
      `
      const rows = recipients.map((r, k) => ({ s: k + 1, st: r.status, chats: r.chats ?? [] }))
      yield* sql`
        INSERT INTO mailing_recipients (mailing_id, seq, platform_user_id, status, pending_chats, wave, queued_at)
        SELECT ${id}, x.s, 'p-' || x.s, x.st, x.chats, CASE WHEN x.st = 'queued' THEN 1 END,
          CASE WHEN x.st = 'queued' THEN now() END
        FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(s integer, st text, chats bigint[])
      `
      return id
    }).pipe(Effect.orDie)

  const statuses = (id: string) =>
    Effect.map(
      Effect.orDie(sql<{ readonly status: string }>`SELECT status FROM mailing_recipients WHERE mailing_id = ${id} ORDER BY seq`),
      (rows) => rows.map((r) => r.status)
    )

  return { sql, receipts, mailing, statuses }
})

describe("mailing receipts", () => {
  it.live("receipts of messages sent before their wave committed wait for the commit and count", () =>
    Effect.gen(function*() {
      const { mailing, receipts, sql, statuses } = yield* setup
      const n = 60
      const id = yield* mailing("running", Array.from({ length: n }, () => ({ status: "pending" })))
      const locked = yield* Deferred.make<void>()
      // The wave: its recipients locked, then (while their messages are out) marked queued, then committed.
      const wave = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT seq FROM mailing_recipients WHERE mailing_id = ${id} AND status = 'pending' ORDER BY seq FOR UPDATE`
        yield* Deferred.succeed(locked, undefined)
        yield* Effect.sleep("500 millis")
        yield* sql`
          UPDATE mailing_recipients SET status = 'queued', pending_chats = ARRAY[5000 + seq]::bigint[], wave = 1, queued_at = now()
          WHERE mailing_id = ${id}
        `
        yield* Effect.sleep("200 millis")
      })).pipe(Effect.orDie))
      yield* Deferred.await(locked)
      yield* Effect.forEach(Array.from({ length: n }, (_, k) => k + 1), (seq) => receipts.record(`${id}:${seq}`, 5000 + seq, "sent"), {
        concurrency: "unbounded",
        discard: true
      })
      yield* Fiber.join(wave)
      assert.deepStrictEqual(yield* statuses(id), Array.from({ length: n }, () => "sent"))
    }))

  it.live("a final answer counts for a recipient pending again after its wave rolled back; told twice, nothing changes", () =>
    Effect.gen(function*() {
      const { mailing, receipts, statuses } = yield* setup
      const id = yield* mailing("running", [
        { status: "pending" },
        { status: "pending" },
        { status: "pending" },
        { status: "pending" },
        { status: "pending" },
        { status: "cancelled" },
        { status: "blocked" },
        { status: "sent" }
      ])
      const told = [
        [1, "sent"],
        [2, "unreachable"],
        [3, "dead_letter"],
        [4, "withheld"],
        [5, "no_consent"],
        [6, "sent"],
        [7, "sent"],
        [8, "unreachable"]
      ] as const
      for (const [seq, outcome] of told) yield* receipts.record(`${id}:${seq}`, 1000 + seq, outcome)
      const expected = ["sent", "blocked", "pending", "pending", "pending", "sent", "sent", "sent"]
      assert.deepStrictEqual(yield* statuses(id), expected)
      // Told again (an entry delivered twice), in one batch: nothing moves.
      yield* Effect.forEach(told, ([seq, outcome]) => receipts.record(`${id}:${seq}`, 1000 + seq, outcome), {
        concurrency: "unbounded",
        discard: true
      })
      assert.deepStrictEqual(yield* statuses(id), expected)
    }))

  it.live("the sender's Redis failing puts a queued recipient back to pending (cancelled in a cancelled mailing), never failed", () =>
    Effect.gen(function*() {
      const { mailing, receipts, sql, statuses } = yield* setup
      const running = yield* mailing("running", [{ status: "queued", chats: [2001] }, { status: "queued", chats: [2002] }])
      yield* receipts.record(`${running}:1`, 2001, "store_unavailable")
      yield* receipts.record(`${running}:2`, 2002, "dead_letter")
      assert.deepStrictEqual(yield* statuses(running), ["pending", "failed"])
      const [row] = yield* Effect.orDie(sql<{ readonly pending_chats: ReadonlyArray<unknown>; readonly outcomes: ReadonlyArray<string>; readonly finished_at: Date | null }>`
        SELECT pending_chats, outcomes, finished_at FROM mailing_recipients WHERE mailing_id = ${running} AND seq = 1
      `)
      assert.deepStrictEqual([row!.pending_chats.length, row!.outcomes, row!.finished_at], [0, [], null])

      const cancelled = yield* mailing("cancelled", [{ status: "queued", chats: [2003] }])
      yield* receipts.record(`${cancelled}:1`, 2003, "store_unavailable")
      assert.deepStrictEqual(yield* statuses(cancelled), ["cancelled"])
    }))

  it.live("held back on one chat, answered later on the other: cancelled when the mailing was cancelled in between", () =>
    Effect.gen(function*() {
      const { mailing, receipts, sql, statuses } = yield* setup
      const id = yield* mailing("paused", [{ status: "queued", chats: [3001, 3002] }])
      yield* receipts.record(`${id}:1`, 3001, "withheld")
      assert.deepStrictEqual(yield* statuses(id), ["queued"], "one chat still awaited")
      yield* Effect.orDie(sql`UPDATE mailings SET status = 'cancelled', finished_at = now() WHERE id = ${id}`)
      yield* receipts.record(`${id}:1`, 3002, "unlinked")
      assert.deepStrictEqual(yield* statuses(id), ["cancelled"])
    }))

  it.live("a watch is kept while a message waits on it: a pause long after it began waiting still holds it back", () =>
    Effect.gen(function*() {
      const { mailing, receipts, sql } = yield* setup
      const id = yield* mailing("running", [{ status: "queued", chats: [4001] }])
      const waiting = yield* Effect.forkChild(receipts.hold(`${id}:1`))
      // Well past `forgetAfter` (1 s): a watch without waiters would be gone by now.
      yield* Effect.sleep("2500 millis")
      assert.isUndefined(waiting.pollUnsafe(), "not held while the mailing runs")
      yield* Effect.orDie(sql`UPDATE mailings SET status = 'paused' WHERE id = ${id}`)
      const held = yield* Fiber.join(waiting).pipe(Effect.timeout("3 seconds"), Effect.orDie)
      assert.strictEqual(held, "withheld")
    }))
})
