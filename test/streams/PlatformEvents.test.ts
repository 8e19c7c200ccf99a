/**
 * Platform events to notifications, through the notifier and sender roles, real Redis and Postgres and the
 * emulator:
 * - 1,000 events (10% duplicates, shuffled) for 900 players of whom some have the event's consent off, some are
 *   not linked and some blocked the bot: exactly the consenting (or transactional), linked, reachable players get
 *   one message each, in their language, with the template's buttons;
 * - unlinking a player mid-stream stops that player's messages at once, also those already queued;
 * - bad events (not JSON, no `user_id` or `idempotency_key`, unknown template, a missing or wrong variable) are
 *   dead-lettered with a reason, and the consumer goes on;
 * - events a crashed notifier read and never acknowledged are sent by another, once;
 * - a tournament's reminder reaches a player once, and never after the start;
 * - a Postgres outage leaves events pending (not dead-lettered) until it ends;
 * - the event's `traceparent` continues into the queued message.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { Redis as IORedis } from "ioredis"
import * as Postgres from "../../layers/Postgres.ts"
import type { MessageLogEntry } from "../../src/emulator/index.ts"
import { Identity } from "../../services/Identity.ts"
import { Keys } from "../../streams/Keys.ts"
import { toRecord as fields } from "../../streams/PartitionConsumer.ts"
import { group } from "../../streams/PlatformEvents.ts"
import { startGateway } from "../support/Gateway.ts"
import { emulatorSetup } from "../support/EmulatorGateway.ts"
import { config, redisClient } from "../support/Infra.ts"
import { eventually } from "../support/Processes.ts"

const site = "https://casino.example.com"

const setup = (
  label: string,
  before?: (stream: string, redis: IORedis) => Effect.Effect<void>,
  extra: Record<string, string> = {}
) =>
  Effect.gen(function*() {
    const { emulator, prefix, databaseUrl, env: base } = yield* emulatorSetup(label, {
      PUBLIC_URL: site,
      EVENT_CLAIM_IDLE_MS: "2000",
      ...extra
    })
    const stream = `${prefix}platform:events`
    const env: Record<string, string> = { ...base, PLATFORM_EVENTS_STREAM: stream }
    // The database is migrated before the gateway starts: the test writes players first.
    const services = yield* Layer.build(Identity.layer.pipe(
      Layer.provideMerge(Postgres.layerUrl(Redacted.make(databaseUrl))),
      Layer.provide(config(env))
    ))
    const sql = Context.get(services, SqlClient)
    const identity = Context.get(services, Identity)
    const redis = yield* redisClient()
    const keys = Keys.make(prefix, Number(env.PARTITIONS))
    const append = (event: unknown, traceparent?: string) =>
      Effect.promise(() =>
        redis.xadd(stream, "*", "event", typeof event === "string" ? event : JSON.stringify(event),
          ...(traceparent === undefined ? [] : ["traceparent", traceparent]))
      ).pipe(Effect.map((id) => id!))
    /** Every appended event acknowledged by the notifier, and every queued message finished by the sender. */
    const settled = (count: number) =>
      eventually("events and messages settled", Effect.promise(async () => {
        const info = (await redis.xinfo("GROUPS", stream) as Array<Array<unknown>>)
          .map(fields).find((g) => g["name"] === group) ?? {}
        if (info["pending"] !== 0 || info["lag"] !== 0 || Number(info["entries-read"]) < count) return false
        for (let p = 0; p < keys.partitions; p++) {
          const lane = keys.outbox("notify", p)
          if (await redis.exists(lane) === 0) continue
          const groups = (await redis.xinfo("GROUPS", lane) as Array<Array<unknown>>).map(fields)
          if (groups.length === 0 || groups.some((g) => g["pending"] !== 0 || g["lag"] !== 0)) return false
        }
        return true
      }), 60_000)
    if (before !== undefined) yield* before(stream, redis)
    yield* startGateway({ env, http: false, notifier: true, sender: true })
    return { emulator, sql, identity, redis, stream, append, settled, keys }
  })

describe("platform events to notifications", () => {
  it.live("1,000 events, 10% duplicates: exactly the consenting, linked, reachable players get one message each", () =>
    Effect.gen(function*() {
      const { emulator, sql, append, settled } = yield* setup("t-events")
      const players = 900
      const chatOf = (i: number) => 7_100_000 + i
      // Every fifth player has promotions and tournaments off; every twentieth (from 1) is not linked, every
      // twentieth (from 3) blocked the bot earlier. Even players use Telegram in Italian; every sixth chose English.
      yield* sql`
        INSERT INTO identities (telegram_user_id, platform_user_id, chat_id, language_code, language,
                                consent_promotions, consent_tournaments, linked_at)
        SELECT ${chatOf(0)} + i, CASE WHEN i % 20 = 1 THEN NULL ELSE 'p-' || i END, ${chatOf(0)} + i,
               CASE WHEN i % 2 = 0 THEN 'it-IT' ELSE 'en' END, CASE WHEN i % 6 = 0 THEN 'en' END,
               i % 5 <> 0, i % 5 <> 0, now()
        FROM generate_series(1, ${players}) AS i
      `
      yield* sql`
        INSERT INTO chats (chat_id, chat_type, unreachable_at, unreachable_reason)
        SELECT ${chatOf(0)} + i, 'private', now(), 'Forbidden: bot was blocked by the user'
        FROM generate_series(1, ${players}) AS i WHERE i % 20 = 3
      `
      const templateOf = (i: number) => ["bonus_granted", "tournament_start", "kyc_status_changed"][i % 3]!
      const eventOf = (i: number) => ({
        type: templateOf(i),
        user_id: `p-${i}`,
        idempotency_key: `e-${i}`,
        vars: i % 3 === 0
          ? { bonus_name: "Welcome <Spins> & more" }
          : i % 3 === 1
          ? { tournament_id: `t-${i}`, tournament_name: "Weekly Race", rules_url: `${site}/rules/${i}` }
          : { status: "approved" }
      })
      const events = Array.from({ length: players }, (_, k) => eventOf(k + 1))
      // 100 duplicates of random events, everything shuffled.
      const all = [...events, ...events.slice(0, 100).map((_, k) => events[(k * 37) % players]!)]
      for (let i = all.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1))
        ;[all[i], all[j]] = [all[j]!, all[i]!]
      }
      for (const event of all) yield* append(event)

      const expected = events.map((_, k) => k + 1).filter((i) =>
        i % 20 !== 1 && i % 20 !== 3 && (i % 5 !== 0 || templateOf(i) === "kyc_status_changed")
      )
      yield* settled(all.length)
      const log = yield* emulator.messages()
      const byChat = new Map<number, Array<MessageLogEntry>>()
      for (const m of log) byChat.set(m.chatId, [...(byChat.get(m.chatId) ?? []), m])
      assert.deepStrictEqual([...byChat.keys()].sort((a, b) => a - b), expected.map(chatOf), "exactly the expected chats")
      for (const i of expected) {
        const messages = byChat.get(chatOf(i))!
        assert.strictEqual(messages.length, 1, `player ${i}: one message`)
        const m = messages[0]!
        const italian = i % 2 === 0 && i % 6 !== 0
        const buttons = (m.reply_markup as { inline_keyboard: Array<Array<{ text: string; url?: string; web_app?: { url: string } }>> })
          .inline_keyboard.flat().map((b) => [b.text, b.web_app?.url ?? b.url])
        assert.strictEqual(m.params["parse_mode"], "HTML")
        if (templateOf(i) === "bonus_granted") {
          assert.strictEqual(m.text, italian
            ? "🎁 Il bonus <b>Welcome &lt;Spins&gt; &amp; more</b> è nel tuo conto."
            : "🎁 Bonus <b>Welcome &lt;Spins&gt; &amp; more</b> is in your account.")
          assert.deepStrictEqual(buttons, [[italian ? "I miei bonus" : "My bonuses", `${site}/app/#/bonuses`]])
        } else if (templateOf(i) === "tournament_start") {
          assert.strictEqual(m.text, italian ? "🏁 <b>Weekly Race</b> è iniziato!" : "🏁 <b>Weekly Race</b> has started!")
          assert.deepStrictEqual(buttons, [
            [italian ? "Partecipa" : "Join", `${site}/app/#/tournament/t-${i}`],
            [italian ? "Regolamento" : "Rules", `${site}/rules/${i}`]
          ])
        } else {
          assert.include(m.text!, italian ? "La tua identità è verificata" : "Your identity is verified")
          assert.deepStrictEqual(buttons, [[italian ? "Apri l'area personale" : "Open your cabinet", `${site}/cabinet`]])
        }
      }
    }), { timeout: 120_000 })

  it.live("unlinking mid-stream stops that player's messages at once", () =>
    Effect.gen(function*() {
      const { emulator, identity, append, settled } = yield* setup("t-events-unlink")
      for (const [telegramUserId, platformUserId] of [[7_200_001, "u-1"], [7_200_002, "u-2"]] as const) {
        yield* identity.link({ telegramUserId, platformUserId, chatId: telegramUserId }, "platform")
      }
      yield* append({ type: "kyc_status_changed", user_id: "u-1", vars: { status: "pending" }, idempotency_key: "k1" })
      yield* emulator.awaitMessages(7_200_001, 1)
      yield* identity.unlink(7_200_001, "user")
      yield* append({ type: "kyc_status_changed", user_id: "u-1", vars: { status: "approved" }, idempotency_key: "k2" })
      yield* append({ type: "kyc_status_changed", user_id: "u-2", vars: { status: "approved" }, idempotency_key: "k3" })
      yield* emulator.awaitMessages(7_200_002, 1)
      yield* settled(3)
      assert.lengthOf(yield* emulator.messages(7_200_001), 1, "nothing after the unlink")
    }))

  it.live("messages already queued when the player unlinks are not sent", () =>
    Effect.gen(function*() {
      // One message per second per chat (Telegram's pace): the later ones wait in the outbox.
      const { emulator, identity, append, settled } = yield* setup("t-events-unlink-queued", undefined, { TG_CHAT_RATE: "1" })
      yield* identity.link({ telegramUserId: 7_700_001, platformUserId: "u-1", chatId: 7_700_001 }, "platform")
      for (const status of ["pending", "action_required", "approved", "rejected"]) {
        yield* append({ type: "kyc_status_changed", user_id: "u-1", vars: { status }, idempotency_key: status })
      }
      yield* emulator.awaitMessages(7_700_001, 1)
      yield* identity.unlink(7_700_001, "user")
      yield* settled(4)
      assert.lengthOf(yield* emulator.messages(7_700_001), 1, "nothing after the unlink, though already queued")
    }))

  it.live("a tournament's reminders are one message per player, and none once the tournament has started", () =>
    Effect.gen(function*() {
      const { emulator, identity, append, settled } = yield* setup("t-events-reminder")
      yield* identity.link({ telegramUserId: 7_800_001, platformUserId: "u-1", chatId: 7_800_001 }, "platform")
      yield* identity.setConsents(7_800_001, { tournaments: true }, "user")
      const reminder = (id: string, startsAt: number, key: string) => ({
        type: "tournament_reminder",
        user_id: "u-1",
        vars: { tournament_id: id, tournament_name: id, starts_at: new Date(startsAt).toISOString() },
        idempotency_key: key
      })
      yield* append(reminder("t-started", Date.now() - 60_000, "a"))
      // Two producers remind of the same start under their own keys: the player reads it once.
      const soon = Date.now() + 600_000
      yield* append(reminder("t-soon", soon, "b"))
      yield* append(reminder("t-soon", soon, "c"))
      yield* emulator.awaitMessages(7_800_001, 1)
      yield* settled(3)
      const messages = yield* emulator.messages(7_800_001)
      assert.lengthOf(messages, 1)
      assert.include(messages[0]!.text!, "t-soon")
    }))

  it.live("bad events are dead-lettered with a reason and the consumer goes on", () =>
    Effect.gen(function*() {
      const { emulator, identity, redis, stream, append, settled } = yield* setup("t-events-bad")
      yield* identity.link({ telegramUserId: 7_300_001, platformUserId: "u-1", chatId: 7_300_001 }, "platform")
      yield* append("not json at all")
      yield* append({ type: "kyc_status_changed", vars: { status: "approved" }, idempotency_key: "no-user" })
      yield* append({ type: "no_such_template", user_id: "u-1", idempotency_key: "unknown" })
      yield* append({ type: "tournament_start", user_id: "u-1", vars: { tournament_id: "t-1" }, idempotency_key: "missing" })
      yield* append({ type: "kyc_status_changed", user_id: "u-1", vars: { status: "maybe" }, idempotency_key: "wrong" })
      yield* append({ type: "kyc_status_changed", user_id: "u-1", vars: { status: "approved" } })
      yield* append({ type: "kyc_status_changed", user_id: "u-1", vars: { status: "approved" }, idempotency_key: "ok" })
      const [message] = yield* emulator.awaitMessages(7_300_001, 1)
      assert.include(message!.text!, "Your identity is verified")
      yield* settled(7)
      const dead = (yield* Effect.promise(() => redis.xrange(`${stream}:dead`, "-", "+"))).map(([, f]) => fields(f))
      // Players' events are handled concurrently: dead letters are matched by their event, not their order.
      const reasonOf = (marker: string) => String(dead.find((d) => String(d["event"]).includes(marker))?.["reason"])
      assert.lengthOf(dead, 6)
      assert.match(reasonOf("not json"), /^invalid event: /)
      assert.match(reasonOf("no-user"), /^invalid event: .*user_id/s)
      assert.strictEqual(reasonOf("no_such_template"), "unknown template: no_such_template")
      assert.match(reasonOf("missing"), /^invalid vars for tournament_start: .*tournament_name/s)
      assert.match(reasonOf("maybe"), /^invalid vars for kyc_status_changed: /)
      assert.match(reasonOf(`"vars":{"status":"approved"}}`), /^invalid event: .*idempotency_key/s)
      assert.strictEqual(dead.find((d) => d["event"] === "not json at all")?.["event"], "not json at all",
        "the event is kept as it came, for a replay")
      assert.lengthOf(yield* emulator.messages(7_300_001), 1)
    }))

  it.live("events a crashed notifier read and never acknowledged are claimed and sent by another", () =>
    Effect.gen(function*() {
      const { emulator, identity, redis, stream, append, settled } = yield* setup("t-events-claim", (stream, redis) =>
        Effect.promise(async () => {
          // A notifier that read two events and died: they stay pending under its name.
          await redis.xgroup("CREATE", stream, group, "0", "MKSTREAM")
          await redis.xadd(stream, "*", "event", JSON.stringify({ type: "kyc_status_changed", user_id: "u-1", vars: { status: "pending" }, idempotency_key: "c1" }))
          await redis.xadd(stream, "*", "event", JSON.stringify({ type: "kyc_status_changed", user_id: "u-1", vars: { status: "approved" }, idempotency_key: "c2" }))
          await redis.xreadgroup("GROUP", group, "crashed", "COUNT", "2", "STREAMS", stream, ">")
        }))
      yield* identity.link({ telegramUserId: 7_500_001, platformUserId: "u-1", chatId: 7_500_001 }, "platform")
      yield* append({ type: "kyc_status_changed", user_id: "u-1", vars: { status: "action_required" }, idempotency_key: "c3" })
      yield* emulator.awaitMessages(7_500_001, 1)
      const messages = yield* emulator.awaitMessages(7_500_001, 3)
      assert.deepStrictEqual(messages.map((m) => m.text!.slice(0, 40)).slice(1).sort(), [
        "🪪 Your documents were received and are ",
        "🪪 Your identity is verified. Thank you!"
      ])
      yield* settled(3)
      assert.strictEqual(Number((yield* Effect.promise(() => redis.xpending(stream, group)))[0]), 0)
      assert.lengthOf(yield* emulator.messages(7_500_001), 3, "each claimed event sent once")
    }))

  it.live("while Postgres cannot answer, events stay pending (not dead-lettered) and are sent once it can", () =>
    Effect.gen(function*() {
      const { emulator, identity, sql, redis, stream, append, settled } = yield* setup("t-events-outage")
      yield* identity.link({ telegramUserId: 7_600_001, platformUserId: "u-1", chatId: 7_600_001 }, "platform")
      // The players' table out of reach: every look-up fails as in an outage.
      yield* sql`ALTER TABLE identities RENAME TO identities_away`
      yield* append({ type: "kyc_status_changed", user_id: "u-1", vars: { status: "approved" }, idempotency_key: "o1" })
      // Left pending after its retries, claimed again once idle (its delivery count grows), still failing.
      yield* eventually("the event is left pending and claimed again", Effect.promise(async () => {
        const pending = await redis.xpending(stream, group, "-", "+", 10) as Array<[string, string, number, number]>
        return pending.length === 1 && pending[0]![3] >= 2
      }))
      yield* sql`ALTER TABLE identities_away RENAME TO identities`
      const [message] = yield* emulator.awaitMessages(7_600_001, 1)
      assert.include(message!.text!, "Your identity is verified")
      yield* settled(1)
      assert.strictEqual(yield* Effect.promise(() => redis.xlen(`${stream}:dead`)), 0, "nothing dead-lettered")
      assert.lengthOf(yield* emulator.messages(7_600_001), 1)
    }))

  it.live("the event's traceparent continues into the queued message", () =>
    Effect.gen(function*() {
      const { emulator, identity, redis, append, keys } = yield* setup("t-events-trace")
      yield* identity.link({ telegramUserId: 7_400_001, platformUserId: "u-1", chatId: 7_400_001 }, "platform")
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
      yield* append(
        { type: "kyc_status_changed", user_id: "u-1", vars: { status: "approved" }, idempotency_key: "t" },
        `00-${traceId}-00f067aa0ba902b7-01`
      )
      yield* emulator.awaitMessages(7_400_001, 1)
      const [[, queued]] = (yield* Effect.promise(() =>
        redis.xrange(keys.outbox("notify", keys.partitionOf(7_400_001)), "-", "+")
      )) as [[string, Array<string>]]
      assert.strictEqual(String(fields(queued)["traceparent"]).split("-")[1], traceId)
    }))
})
