/**
 * The mailing acceptance run: 10,000 linked players, an emulator enforcing 300 messages/s per bot and 1/s per
 * chat in a process of its own, and two gateway processes running the notifier (the waves) and the sender:
 * - the mailing goes out with no 429 served;
 * - paused mid-way, the sending stops (the count stops growing and stays put while paused; messages already in
 *   the outbox are held back and their recipients are pending again), and after the resume it goes on;
 * - one of the two processes is killed with SIGKILL mid-mailing; the other finishes the mailing;
 * - in the end every player got exactly one message: nobody twice, nobody skipped. Telegram has no idempotency
 *   key, so a message whose process died between claiming it and recording the answer is "in doubt" and not sent
 *   again (at most once); a player without a message must be exactly such a claim.
 * The achieved rate is logged (the bench measures it: `npm run bench -- mailing`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Postgres from "../../layers/Postgres.ts"
import { Mailings } from "../../services/Mailings.ts"
import { Templates } from "../../src/notify/Templates.ts"
import { Keys } from "../../streams/Keys.ts"
import { config, gatewayEnv, redisClient, testDatabase, testPrefix } from "../support/Infra.ts"
import { eventually, spawnNode } from "../support/Processes.ts"
import { separateEmulator } from "../support/SeparateEmulator.ts"

const players = 10_000
const chatOf = (i: number) => 9_000_000 + i

/** Polls `count` until it holds still for `stillMs`; answers the value. */
const settle = (count: Effect.Effect<number>, stillMs: number, timeoutMs = 20_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    let last = yield* count
    let since = Date.now()
    while (Date.now() - since < stillMs) {
      if (Date.now() > deadline) return yield* Effect.die(new Error("the count never held still"))
      yield* Effect.sleep("200 millis")
      const now = yield* count
      if (now !== last) {
        last = now
        since = Date.now()
      }
    }
    return last
  })

describe("mailings in waves", () => {
  it.live("10,000 players at 300/s: no 429; paused and resumed, a process killed: nobody twice, nobody skipped", () =>
    Effect.gen(function*() {
      const emulator = yield* separateEmulator
      const prefix = yield* testPrefix("t-mailing")
      const databaseUrl = yield* testDatabase
      const env: Record<string, string> = {
        ...gatewayEnv({ prefix, databaseUrl, apiRoot: emulator.url, extra: { BOT_TOKEN: emulator.token } }),
        TG_GLOBAL_RATE: "300",
        TG_CHAT_RATE: "1",
        TG_GROUP_RATE_PER_MIN: "20",
        ROLES: "notifier,sender",
        PLATFORM_EVENTS_STREAM: `${prefix}platform:events`
      }
      const services = yield* Layer.build(Mailings.layer.pipe(
        Layer.provide(Templates.layer),
        Layer.provideMerge(Postgres.layerUrl(Redacted.make(databaseUrl))),
        Layer.provide(config(env))
      ))
      const mailings = Context.get(services, Mailings)
      const sql = Context.get(services, SqlClient)
      yield* sql`
        INSERT INTO identities (telegram_user_id, platform_user_id, chat_id, language_code, consent_promotions, linked_at)
        SELECT ${chatOf(0)} + i, 'p-' || i, ${chatOf(0)} + i, CASE WHEN i % 3 = 0 THEN 'it' ELSE 'en' END, true, now()
        FROM generate_series(1, ${players}) AS i
      `
      const first = yield* spawnNode("src/main.ts", env)
      yield* spawnNode("src/main.ts", env)

      const ids = Array.from({ length: players }, (_, k) => `p-${k + 1}`)
      const { mailing } = yield* mailings.create({
        name: "acceptance",
        template: "promo_announcement",
        vars: { title: "Winter spins", body: "50 free spins for the weekend" },
        segment: { user_ids: [...ids, ...ids.slice(0, 100)] },
        wave_size: 500,
        jitter_ms: 300
      })
      assert.strictEqual(mailing.recipients, players)
      const progress = Effect.map(Effect.orDie(mailings.get(mailing.id)), (m) => m.progress)

      // Paused mid-way: the sending stops, and stays stopped.
      yield* eventually("a quarter sent", Effect.map(emulator.sent, (n) => n >= players / 4), 60_000)
      const pausedAt = Date.now()
      yield* Effect.orDie(mailings.pause(mailing.id, "acceptance: pause mid-way"))
      const stopped = yield* settle(emulator.sent, 1500)
      const stoppedAfterMs = Date.now() - 1500 - pausedAt
      yield* Effect.sleep("2 seconds")
      assert.strictEqual(yield* emulator.sent, stopped, "nothing is sent while the mailing is paused")
      yield* eventually("held-back messages pending again", Effect.map(progress, (p) => p.queued === 0))
      const whilePaused = yield* progress
      assert.strictEqual(whilePaused.sent, stopped, "every message sent is counted, none held back was sent")
      assert.strictEqual(whilePaused.pending, players - stopped)
      assert.isBelow(stopped, players / 2)

      // Resumed; then one of the two processes is killed mid-mailing.
      yield* Effect.orDie(mailings.resume(mailing.id))
      const resumedAt = Date.now()
      yield* eventually("resumed", Effect.map(emulator.sent, (n) => n > stopped + 500), 30_000)
      yield* eventually("two thirds sent", Effect.map(emulator.sent, (n) => n >= (players * 2) / 3), 60_000)
      first.process.kill("SIGKILL")
      yield* eventually("completed", Effect.map(Effect.orDie(mailings.get(mailing.id)), (m) => m.status === "completed"), 90_000)
      const finishedAt = Date.now()

      const counters = yield* emulator.counters
      assert.strictEqual(counters.tooManyRequests, 0, "no 429 served")
      const delivered = (yield* emulator.messages()).filter((m) => m.chatId > chatOf(0) && m.chatId <= chatOf(players))
      const byChat = new Map<number, number>()
      for (const m of delivered) byChat.set(m.chatId, (byChat.get(m.chatId) ?? 0) + 1)
      for (const [chatId, n] of byChat) assert.strictEqual(n, 1, `chat ${chatId} got the mailing ${n} times`)
      const redis = yield* redisClient()
      const keys = Keys.make(prefix, Number(env.PARTITIONS))
      const missing = Array.from({ length: players }, (_, k) => chatOf(k + 1)).filter((chatId) => !byChat.has(chatId))
      for (const chatId of missing) {
        const record = yield* Effect.promise(() => redis.get(keys.outbound(`mailing:${mailing.id}:${chatId}`)))
        assert.strictEqual(record, "P", `chat ${chatId} skipped, and not in doubt`)
      }
      const done = yield* Effect.orDie(mailings.get(mailing.id))
      assert.deepStrictEqual(done.progress, {
        pending: 0,
        queued: 0,
        sent: players,
        blocked: 0,
        failed: 0,
        cancelled: 0,
        skipped: { unlinked: 0, noConsent: 0, unreachable: 0 }
      })

      // The rate while nothing disturbed it: from the first message to the pause.
      const times = delivered.map((m) => m.receivedAt).sort((a, b) => a - b)
      const beforePause = times.filter((t) => t <= pausedAt)
      const steady = (beforePause.length - 1) / ((beforePause[beforePause.length - 1]! - beforePause[0]!) / 1000)
      const afterResume = times.filter((t) => t >= resumedAt).length / ((finishedAt - resumedAt) / 1000)
      console.log(
        `mailing of ${players}: ${steady.toFixed(1)} msgs/s before the pause (limit 300, bulk ceiling ` +
          `${(300 * 0.95 * 0.97).toFixed(1)}), ${afterResume.toFixed(1)} msgs/s from the resume to the end (SIGKILL ` +
          `and takeover included); stopped ${stoppedAfterMs} ms after the pause; max ${counters.maxPerSecond}/s in ` +
          `any second; ${missing.length} in doubt after SIGKILL; ${done.waves} waves`
      )
      assert.isAtMost(counters.maxPerSecond, 300)
    }), 240_000)
})
