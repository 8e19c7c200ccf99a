/**
 * Tournament reminders fired by the notifier role, sent by the sender role, against the Bot API emulator:
 * - two processes (`ROLES=notifier,sender`): a reminder set for T fires once at T: queued within a second of T and
 *   never before (`fired_at - fire_at`, the database's clock), and delivered within a second of T;
 * - what a process killed between queueing a reminder's message and committing leaves (the message in the
 *   outbox, the reminder still pending and due) is sent once when a process starts;
 * - reminders that fell due while no process ran fire when one starts; one whose tournament has started by then
 *   is skipped, not sent;
 * - pending reminders follow their tournament when the platform moves or renames it; a chat that blocked the bot
 *   is skipped as `unreachable`;
 * - a tournament that left the upcoming list (cancelled, or started early) on two passes in a row has its
 *   reminders skipped (`not_upcoming`, `started`), never fired; missing once (a glitch), they stay;
 * - one reminder that keeps failing is skipped as `error` while the others fire.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Postgres from "../../layers/Postgres.ts"
import * as RedisLayer from "../../layers/Redis.ts"
import * as Roles from "../../layers/Roles.ts"
import { Identity } from "../../services/Identity.ts"
import { Notifications } from "../../services/Notifications.ts"
import { Platform } from "../../services/Platform.ts"
import * as ReminderScheduler from "../../services/ReminderScheduler.ts"
import { reminderKey } from "../../services/ReminderScheduler.ts"
import { Reminders } from "../../services/Reminders.ts"
import { Templates } from "../../src/notify/Templates.ts"
import { Keys } from "../../streams/Keys.ts"
import { assignment } from "../../streams/Ownership.ts"
import { emulatorSetup } from "../support/EmulatorGateway.ts"
import { config, redisClient, redisUrl } from "../support/Infra.ts"
import { eventually, spawnNode } from "../support/Processes.ts"

const partitions = 8
const leadMs = 5 * 60_000

const setup = (label: string) =>
  Effect.gen(function*() {
    const { emulator, prefix, databaseUrl, env: base } = yield* emulatorSetup(label, {
      ROLES: "notifier,sender",
      PARTITIONS: String(partitions),
      PUBLIC_URL: "https://casino.example.com"
    })
    const env: Record<string, string> = { ...base, PLATFORM_EVENTS_STREAM: `${prefix}platform:events` }
    // The test's own view: the database (migrated here first), the reminders service, the notification path.
    const context = yield* Layer.build(
      Layer.mergeAll(Identity.layer, Reminders.layer, Roles.notifications).pipe(
        Layer.provideMerge(Platform.layerReference),
        Layer.provideMerge(Layer.mergeAll(
          Postgres.layerUrl(Redacted.make(databaseUrl)),
          RedisLayer.layerUrl(redisUrl),
          Keys.layer
        )),
        Layer.provide(config(env))
      )
    )
    const sql = Context.get(context, SqlClient)
    const reminders = Context.get(context, Reminders)
    const identity = Context.get(context, Identity)
    const redis = yield* redisClient()

    /** A player who started the bot: an identity with its private chat. */
    const player = (id: number) =>
      identity.signIn({ telegramUserId: id, username: undefined, languageCode: "en", chatId: id }, "bot")
    /** A tournament of the reference platform starting at `startsAt`. */
    const tournament = (id: string, title: string, startsAt: number) =>
      sql`INSERT INTO ref_tournaments (id, title, starts_at, ends_at) VALUES
            (${id}, ${title}, ${new Date(startsAt)}, ${new Date(startsAt + 3_600_000)})`
    const remind = (telegramUserId: number, tournamentId: string) =>
      Effect.flatMap(
        reminders.set({ telegramUserId, chatId: telegramUserId, tournamentId, source: "app" }),
        (outcome) => outcome.result === "set" ? Effect.succeed(outcome.reminder) : Effect.die(new Error(outcome.result))
      )
    const statuses = Effect.map(
      sql<{ tournament_id: string; telegram_user_id: string; status: string; skip_reason: string | null }>`
        SELECT tournament_id, telegram_user_id, status, skip_reason FROM reminders ORDER BY id`,
      (rows) => rows.map((r) => [r.tournament_id, Number(r.telegram_user_id), r.status, r.skip_reason] as const)
    )
    /**
     * The notify lane's messages as the senders' group saw them: `queued` counts every message ever appended (the
     * group's `entries-read`, which trimming does not lower); `settled` when all are read and acknowledged, so
     * nothing more can be sent.
     */
    const outbox = Effect.promise(async () => {
      const keys = Keys.make(prefix, partitions)
      let queued = 0
      let settled = true
      for (let p = 0; p < partitions; p++) {
        const stream = keys.outbox("notify", p)
        if ((await redis.exists(stream)) === 0) continue
        const groups = (await redis.xinfo("GROUPS", stream)) as Array<Array<string | number>>
        const group = groups.map((g) => Object.fromEntries(
          Array.from({ length: g.length / 2 }, (_, i) => [String(g[2 * i]), g[2 * i + 1]])
        )).find((g) => g["name"] === keys.outboxGroup)
        queued += Number(group?.["entries-read"] ?? 0)
        settled &&= group !== undefined && group["pending"] === 0 && group["lag"] === 0
      }
      return { queued, settled }
    })
    const keys = Keys.make(prefix, partitions)
    /** Every outbox partition held by the member the balanced assignment gives it (no hand-over under way). */
    const settledOwners = Effect.promise(async () => {
      const members = await redis.zrange(keys.outboxMembers, "0", "-1")
      const expected = assignment(members, partitions)
      const holders = await Promise.all(Array.from({ length: partitions }, (_, p) => redis.get(keys.outboxLease(p))))
      return holders.every((holder, p) => holder !== null && holder.split("|")[0] === expected[p])
    })
    /** Starts `n` gateway processes; waits until their senders have joined and own the outbox as assigned. */
    const start = (n: number) =>
      Effect.gen(function*() {
        const children = yield* Effect.forEach(Array.from({ length: n }), () => spawnNode("src/main.ts", env), {
          concurrency: "unbounded"
        })
        yield* eventually(`${n} processes running`, Effect.gen(function*() {
          const exited = children.find((c) => c.process.exitCode !== null)
          if (exited !== undefined) return yield* Effect.die(new Error(`a gateway process exited: ${exited.output()}`))
          return (yield* Effect.promise(() => redis.zcard(keys.outboxMembers))) === n
        }), 60_000)
        // Each partition with a stable owner: true on every look for a whole second.
        let since: number | undefined
        yield* eventually("every outbox partition with a stable owner", Effect.map(settledOwners, (settled) => {
          since = settled ? since ?? Date.now() : undefined
          return since !== undefined && Date.now() - since >= 1000
        }), 60_000)
        return children
      })
    /** The chats of every message in the notify lane's streams, read or not. */
    const queuedChats = Effect.promise(async () => {
      const chats: Array<number> = []
      for (let p = 0; p < partitions; p++) {
        for (const [, fields] of await redis.xrange(keys.outbox("notify", p), "-", "+")) {
          const at = fields.indexOf("chat")
          if (at >= 0) chats.push(Number(fields[at + 1]))
        }
      }
      return chats.sort((a, b) => a - b)
    })
    return { emulator, sql, reminders, context, player, tournament, remind, statuses, outbox, start, keys, queuedChats }
  })

describe("tournament reminders fired by the notifier", () => {
  it.live("two processes: a reminder set for T fires once at T (queued within 1 s, never before; received within 1 s)", () =>
    Effect.gen(function*() {
      const { emulator, sql, player, tournament, remind, statuses, outbox, start, keys } = yield* setup("t-remind-fire")
      const chats = [971, 972, 973, 974]
      // A warm-up chat in the outbox partition of each chat: both processes have sent before T.
      const warmups = chats.map((chat, i) => {
        let warm = 5000 + i * 1000
        while (keys.partitionOf(warm) !== keys.partitionOf(chat)) warm++
        return warm
      })
      yield* Effect.forEach([...chats, ...warmups], player, { discard: true })
      yield* start(2)

      // Warm-up: one reminder per warm-up chat, 150 ms apart, so both notifiers and every sender fire once first.
      const w = Date.now() + 1000
      for (const [i, chat] of warmups.entries()) {
        yield* tournament(`t-warm-${i}`, `Warm-up ${i}`, w + i * 150 + leadMs)
        yield* remind(chat, `t-warm-${i}`)
      }
      for (const chat of warmups) yield* emulator.awaitMessages(chat, 1, { timeout: "20 seconds" })

      // Three players of one tournament due at T, one of another due 1.5 s later.
      const t = Date.now() + 2000
      yield* tournament("t-race", "Reminder Race", t + leadMs)
      yield* tournament("t-cup", "Second Cup", t + 1500 + leadMs)
      for (const chat of chats.slice(0, 3)) assert.strictEqual((yield* remind(chat, "t-race")).fireAt.getTime(), t)
      yield* remind(974, "t-cup")

      const due = new Map(chats.map((chat) => [chat, chat === 974 ? t + 1500 : t]))
      for (const chat of chats) {
        const [message] = yield* emulator.awaitMessages(chat, 1, { timeout: "20 seconds" })
        const lateness = message!.receivedAt - due.get(chat)!
        assert.isAtLeast(lateness, 0, `chat ${chat}: not before its time`)
        assert.isBelow(lateness, 1000, `chat ${chat}: received within 1 s of its time (${lateness.toFixed(0)} ms)`)
        assert.include(message!.text, chat === 974 ? "Second Cup" : "Reminder Race")
      }
      yield* eventually("every reminder fired and every message sent", Effect.gen(function*() {
        const rows = yield* statuses
        return rows.every(([, , status]) => status === "fired") && (yield* outbox).settled
      }))
      // The scheduler's own precision, by the database's clock.
      const fired = yield* sql<{ telegram_user_id: string; late_ms: number }>`
        SELECT telegram_user_id, (extract(epoch FROM fired_at - fire_at) * 1000)::float8 AS late_ms
        FROM reminders WHERE tournament_id IN ('t-race', 't-cup') ORDER BY telegram_user_id`
      assert.lengthOf(fired, chats.length)
      for (const row of fired) {
        assert.isAtLeast(Number(row.late_ms), 0, `reminder of ${row.telegram_user_id}: not queued before its time`)
        assert.isBelow(Number(row.late_ms), 1000, `reminder of ${row.telegram_user_id}: queued within 1 s (${Number(row.late_ms).toFixed(0)} ms)`)
      }
      for (const chat of [...chats, ...warmups]) assert.lengthOf(yield* emulator.messages(chat), 1, `chat ${chat}: once`)
      assert.strictEqual((yield* outbox).queued, chats.length + warmups.length, "each reminder queued by one process only")
      const [first] = yield* emulator.messages(971)
      const markup = first!.reply_markup as { inline_keyboard: Array<Array<{ text: string; web_app?: { url: string } }>> }
      assert.strictEqual(markup.inline_keyboard[0]![0]!.web_app?.url, "https://casino.example.com/app/#/tournament/t-race")
    }), 120_000)

  it.live("after a crash between queueing and commit, and after downtime: sent once, started tournaments skipped", () =>
    Effect.gen(function*() {
      const { emulator, sql, context, player, tournament, remind, statuses, outbox, start } = yield* setup("t-remind-crash")
      yield* Effect.forEach([981, 982, 983], player, { discard: true })
      const now = Date.now()
      yield* tournament("t-crash", "Crash Cup", now + 1000 + leadMs)
      yield* tournament("t-missed", "Missed Cup", now + 1200 + leadMs)
      const crashed = yield* remind(981, "t-crash")
      yield* remind(982, "t-missed")
      // A reminder whose tournament started while nothing ran (written as the scheduler would have found it).
      yield* sql`
        INSERT INTO reminders (telegram_user_id, chat_id, tournament_id, tournament_name, starts_at, fire_at, source)
        VALUES (983, 983, 't-gone', 'Gone Cup', ${new Date(now - 60_000)}, ${new Date(now - 60_000 - leadMs)}, 'app')
      `

      // What a process killed after queueing t-crash's message and before its commit leaves behind: the message in
      // the outbox under the reminder's key, the reminder still pending.
      const prepared = yield* Context.get(context, Templates).prepare("tournament_reminder", {
        tournament_id: "t-crash",
        tournament_name: "Crash Cup",
        starts_at: crashed.startsAt.toISOString()
      })
      yield* Context.get(context, Notifications).notify({
        prepared,
        targets: [{ chatId: 981 }],
        idempotencyKey: reminderKey("t-crash", crashed.startsAt),
        lane: "notify",
        requested: true
      })

      // Both fall due with no process running; then one starts.
      yield* eventually("both reminders due", Effect.sync(() => Date.now() > now + 1500), 10_000)
      yield* start(1)
      const [once] = yield* emulator.awaitMessages(981, 1, { timeout: "20 seconds" })
      assert.include(once!.text, "Crash Cup")
      const [missed] = yield* emulator.awaitMessages(982, 1, { timeout: "20 seconds" })
      assert.include(missed!.text, "Missed Cup")
      yield* eventually("every reminder handled and every message sent", Effect.gen(function*() {
        const rows = yield* statuses
        return rows.every(([, , status]) => status !== "pending") && (yield* outbox).settled
      }))
      assert.strictEqual((yield* outbox).queued, 3, "t-crash queued twice (before the crash and after), t-missed once")
      assert.deepStrictEqual(yield* statuses, [
        ["t-crash", 981, "fired", null],
        ["t-missed", 982, "fired", null],
        ["t-gone", 983, "skipped", "started"]
      ])
      assert.lengthOf(yield* emulator.messages(981), 1, "queued twice under one key: sent once")
      assert.lengthOf(yield* emulator.messages(983), 0, "a started tournament is not reminded of")
    }), 90_000)

  it.live("pending reminders follow a moved and renamed tournament; a chat that blocked the bot is skipped", () =>
    Effect.gen(function*() {
      const { emulator, sql, context, player, tournament, remind, statuses } = yield* setup("t-remind-follow")
      yield* Effect.forEach([991, 992], player, { discard: true })
      const startsAt = Date.now() + 3_600_000
      yield* tournament("t-moved", "Moved Cup", startsAt)
      yield* remind(991, "t-moved")
      const scheduler = yield* Effect.provide(ReminderScheduler.make, context)

      // The platform moves it 30 minutes later and renames it; the reminder follows.
      yield* sql`UPDATE ref_tournaments SET starts_at = ${new Date(startsAt + 1_800_000)}, title = 'Moved Cup: Final'
                 WHERE id = 't-moved'`
      yield* scheduler.follow()
      const [moved] = yield* sql<{ starts_at: Date; fire_at: Date; tournament_name: string }>`
        SELECT starts_at, fire_at, tournament_name FROM reminders WHERE tournament_id = 't-moved'`
      assert.strictEqual(moved!.starts_at.getTime(), startsAt + 1_800_000)
      assert.strictEqual(moved!.fire_at.getTime(), startsAt + 1_800_000 - leadMs)
      assert.strictEqual(moved!.tournament_name, "Moved Cup: Final")

      // A chat that blocked the bot (marked by a 403) when its reminder falls due: skipped, nothing queued.
      const now = Date.now()
      yield* tournament("t-blocked", "Blocked Cup", now + 500 + leadMs)
      yield* remind(992, "t-blocked")
      yield* sql`INSERT INTO chats (chat_id, chat_type, unreachable_at, unreachable_reason)
                 VALUES (992, 'private', now(), 'blocked')`
      yield* eventually("due", Effect.sync(() => Date.now() > now + 600), 10_000)
      assert.strictEqual(yield* scheduler.fireDue(), 1)
      assert.deepStrictEqual(yield* statuses, [
        ["t-moved", 991, "pending", null],
        ["t-blocked", 992, "skipped", "unreachable"]
      ])
      assert.strictEqual(yield* scheduler.fireDue(), 0, "taken once")
      assert.lengthOf(yield* emulator.messages(992), 0)
    }), 30_000)

  it.live("a tournament gone from the upcoming list twice in a row (cancelled, or started early): its reminders are skipped, never fired", () =>
    Effect.gen(function*() {
      const { sql, context, player, tournament, remind, statuses, queuedChats } = yield* setup("t-remind-gone")
      yield* Effect.forEach([1001, 1002, 1003], player, { discard: true })
      const startsAt = Date.now() + 3_600_000
      yield* tournament("t-cancelled", "Cancelled Cup", startsAt)
      yield* tournament("t-early", "Early Cup", startsAt)
      yield* tournament("t-glitch", "Glitch Cup", startsAt)
      yield* remind(1001, "t-cancelled")
      yield* remind(1002, "t-early")
      yield* remind(1003, "t-glitch")
      const scheduler = yield* Effect.provide(ReminderScheduler.make, context)
      const pending = (id: string) => [id, 1001 + ["t-cancelled", "t-early", "t-glitch"].indexOf(id), "pending", null] as const

      // The platform cancels one (gone), starts one early (running now); one is missing for one pass only.
      yield* sql`DELETE FROM ref_tournaments WHERE id IN ('t-cancelled', 't-glitch')`
      yield* sql`UPDATE ref_tournaments SET starts_at = now() - interval '1 minute' WHERE id = 't-early'`
      yield* scheduler.follow()
      assert.deepStrictEqual(yield* statuses, [pending("t-cancelled"), pending("t-early"), pending("t-glitch")],
        "missing once: maybe a glitch, nothing skipped")
      yield* tournament("t-glitch", "Glitch Cup", startsAt)
      yield* scheduler.follow()
      assert.deepStrictEqual(yield* statuses, [
        ["t-cancelled", 1001, "skipped", "not_upcoming"],
        ["t-early", 1002, "skipped", "started"],
        pending("t-glitch")
      ])

      // Due now, the skipped ones are not taken: only the one still pending fires.
      yield* sql`UPDATE reminders SET fire_at = now() - interval '1 second'`
      assert.strictEqual(yield* scheduler.fireDue(), 1)
      assert.deepStrictEqual(yield* statuses, [
        ["t-cancelled", 1001, "skipped", "not_upcoming"],
        ["t-early", 1002, "skipped", "started"],
        ["t-glitch", 1003, "fired", null]
      ])
      assert.deepStrictEqual(yield* queuedChats, [1003], "no message for a skipped reminder")

      // Purged 30 days after they ended, however long before that they were set.
      yield* sql`UPDATE reminders SET created_at = now() - interval '40 days'`
      yield* sql`UPDATE reminders SET fired_at = now() - interval '31 days' WHERE tournament_id = 't-cancelled'`
      yield* scheduler.purge
      assert.deepStrictEqual((yield* statuses).map(([id]) => id), ["t-early", "t-glitch"])
    }), 30_000)

  it.live("a reminder that keeps failing is skipped as 'error' while the others fire", () =>
    Effect.gen(function*() {
      const { sql, context, player, tournament, remind, statuses } = yield* setup("t-remind-error")
      yield* Effect.forEach([1011, 1012], player, { discard: true })
      // One bad row: marking it fired always fails (a trigger), as a reminder no process can fire would.
      yield* sql.unsafe(`
        CREATE FUNCTION refuse_bad_reminder() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.tournament_id = 't-bad' AND NEW.status = 'fired' THEN RAISE EXCEPTION 'bad reminder'; END IF;
          RETURN NEW;
        END $$`)
      yield* sql.unsafe(`CREATE TRIGGER refuse_bad_reminder BEFORE UPDATE ON reminders
                         FOR EACH ROW EXECUTE FUNCTION refuse_bad_reminder()`)
      const now = Date.now()
      yield* tournament("t-bad", "Bad Cup", now + 300 + leadMs)
      yield* tournament("t-good", "Good Cup", now + 400 + leadMs)
      yield* remind(1011, "t-bad")
      yield* remind(1012, "t-good")
      yield* eventually("both due", Effect.sync(() => Date.now() > now + 500), 10_000)
      const scheduler = yield* Effect.provide(ReminderScheduler.make, context)

      // The batch fails as a whole: both stay pending.
      assert.isTrue(Exit.isFailure(yield* Effect.exit(scheduler.fireDue())))
      assert.deepStrictEqual((yield* statuses).map(([, , status]) => status), ["pending", "pending"])

      // One by one: the good one fires at once; the bad one, failing on its own three times, is skipped.
      const failures = new Map<string, number>()
      assert.strictEqual(yield* scheduler.fireOneByOne(failures), 1)
      assert.deepStrictEqual(yield* statuses, [["t-bad", 1011, "pending", null], ["t-good", 1012, "fired", null]])
      assert.strictEqual(yield* scheduler.fireOneByOne(failures), 1)
      assert.deepStrictEqual((yield* statuses)[0], ["t-bad", 1011, "pending", null])
      assert.strictEqual(yield* scheduler.fireOneByOne(failures), 1)
      assert.deepStrictEqual(yield* statuses, [["t-bad", 1011, "skipped", "error"], ["t-good", 1012, "fired", null]])
      assert.strictEqual(yield* scheduler.fireOneByOne(failures), 0, "nothing left to fire")
      assert.strictEqual(failures.size, 0)
    }), 30_000)
})
