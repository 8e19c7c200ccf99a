/**
 * "Remind me 5 minutes before" in the bot and the Mini App, on the reference platform: the button appears for
 * upcoming tournaments with time left; a tap sets one reminder (stored for the chat, due 5 minutes before the
 * start), a second tap answers "already set", too late / unknown / forged buttons get soft answers, the reminder
 * can be cancelled from its confirmation; an id too long for a button travels as a digest; a tap handled again
 * after its reply failed answers as the first run did. The Mini App's routes with a JWT: 201 / 200 (again) / list
 * / 204, 401 without a token, 404 unknown, 409 too late, no chat, limit, 400 for a malformed id; their rate
 * limit is apart from the sign-in's.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Crypto from "node:crypto"
import * as Postgres from "../../layers/Postgres.ts"
import * as CallbackData from "../../src/bot/CallbackData.ts"
import { en } from "../../src/bot/texts/en.ts"
import { it as italian } from "../../src/bot/texts/it.ts"
import { UpdateBuilders } from "../../src/emulator/index.ts"
import { seed } from "../../services/platform/Seed.ts"
import { reminderFields } from "../../services/Reminders.ts"
import { startBotGateway } from "../support/EmulatorGateway.ts"
import { initDataFor } from "../support/TelegramSigning.ts"

type Button = { text: string; url?: string; web_app?: { url: string }; callback_data?: string }
const buttons = (markup: unknown): ReadonlyArray<Button> =>
  ((markup as { inline_keyboard?: Array<Array<Button>> } | undefined)?.inline_keyboard ?? []).flat()

/** A tournament id of 62 characters: fits the template, not a 64-byte button with its prefix. */
const longId = `t-${"long-".repeat(12)}`

const setup = (label: string, extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const { emulator, url, env, databaseUrl } = yield* startBotGateway(label, {
      PUBLIC_URL: "https://casino.example.com",
      JWT_KEY_ENCRYPTION_KEY: Crypto.randomBytes(32).toString("base64"),
      REMINDERS_PER_USER: "2",
      ...extra
    })
    const services = yield* Layer.build(Postgres.layerUrl(Redacted.make(databaseUrl)))
    const sql = <A, E>(use: (sql: SqlClient) => Effect.Effect<A, E>) =>
      Effect.provide(Effect.flatMap(SqlClient, use), services)
    yield* Effect.provide(seed, services)
    const now = Date.now()
    const minutes = (n: number) => new Date(now + n * 60_000)
    yield* sql((q) => q`
      INSERT INTO ref_tournaments (id, title, starts_at, ends_at, rules_url) VALUES
        ('t-soon', 'Soon Sprint', ${minutes(3)}, ${minutes(60)}, NULL),
        (${longId}, 'Long Name Cup', ${minutes(120)}, ${minutes(240)}, 'https://example.com/rules/long'),
        ('t-later', 'Later League', ${minutes(2 * 1440)}, ${minutes(3 * 1440)}, NULL)
    `)
    const reminders = (where: string) =>
      sql((q) => q<{ telegram_user_id: string; chat_id: string; tournament_id: string; status: string; fire_at: Date; starts_at: Date }>`
        SELECT telegram_user_id, chat_id, tournament_id, status, fire_at, starts_at FROM reminders
        WHERE tournament_id = ${where} ORDER BY id`)
    const press = (chat: number, data: string, language_code?: string) =>
      emulator.injectUpdate(UpdateBuilders.callbackQuery({
        from: language_code === undefined ? { id: chat } : { id: chat, language_code },
        chatId: chat,
        messageId: 1,
        data
      }))
    const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      Effect.promise(async () => {
        const response = await fetch(`${url}${path}`, {
          method,
          headers: { "content-type": "application/json", ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
        const text = await response.text()
        return { status: response.status, body: text === "" ? null : JSON.parse(text) as Record<string, unknown> }
      })
    /** The Mini App's sign-in as `user`; `fromChat`: opened from the bot's chat (so the chat is known). */
    const exchange = (user: number, fromChat: boolean) =>
      call("POST", "/v1/tg/exchange", {
        init_data: initDataFor({ id: user, first_name: "P" }, env.BOT_TOKEN!, Math.floor(Date.now() / 1000),
          fromChat ? { chat_type: "sender" } : {})
      })
    /** Signs in as `user` from the Mini App; answers the bearer header. */
    const signIn = (user: number, fromChat: boolean) =>
      Effect.map(exchange(user, fromChat), (response) => ({
        authorization: `Bearer ${(response.body as { jwt: string }).jwt}`
      }))
    return { emulator, press, reminders, call, exchange, signIn, sql }
  })

const codeOf = (body: unknown) => (body as { error: { code: string } }).error.code

describe("tournament reminders", () => {
  it("a reminder's title: one line, at most 100 UTF-16 units, cut between graphemes; no title: the id, clipped too", () => {
    const tournament = (id: string, title: string) => ({
      id, title, startsAt: "2026-12-01T20:00:00Z", endsAt: "2026-12-01T21:00:00Z", status: "upcoming" as const,
      prizePool: null, rulesUrl: null
    })
    // 98 letters, then emoji of two units each (a family of several code points, a flag): none may be split.
    for (const emoji of ["😀", "👨‍👩‍👧", "🇮🇹"]) {
      const name = reminderFields(tournament("t-1", `${"a".repeat(98)}${emoji.repeat(3)}`)).tournamentName
      assert.isAtMost(name.length, 100)
      assert.strictEqual(name, `${"a".repeat(98)}…`, emoji)
    }
    const fits = reminderFields(tournament("t-1", `${"a".repeat(96)}😀😀`)).tournamentName
    assert.strictEqual(fits, `${"a".repeat(96)}😀😀`, "100 units: kept whole")
    const multiline = reminderFields(tournament("t-1", "  Big\r\nCup\t ")).tournamentName
    assert.strictEqual(multiline, "Big Cup")
    const id = `t-${"x".repeat(126)}`
    const untitled = reminderFields(tournament(id, " \n ")).tournamentName
    assert.strictEqual(untitled, `${id.slice(0, 99)}…`)
  })

  it.live("the bot: Remind me for upcoming tournaments with time left; set once, already set, cancel; soft answers", () =>
    Effect.gen(function*() {
      const { emulator, press, reminders } = yield* setup("t-remind-bot")
      const chat = 951
      yield* press(chat, "v1:tournaments:list")
      const [list] = yield* emulator.awaitMessages(chat, 1)
      const remindButtons = buttons(list!.reply_markup).filter((b) => b.text === en.remindMe).map((b) => b.callback_data!)
      const digest = remindButtons.find((d) => d.startsWith("v1:tournaments:remind:~"))
      assert.deepStrictEqual(remindButtons, [digest, "v1:tournaments:remind:t-later", "v1:tournaments:remind:t-live-cup"],
        "upcoming tournaments with time left, soonest first; none for the running one or the one in 3 minutes")
      assert.isTrue(remindButtons.every((d) => Buffer.byteLength(d) <= 64))
      assert.match(digest!, /^v1:tournaments:remind:~[A-Za-z0-9_-]{16}$/)

      yield* press(chat, "v1:tournaments:remind:t-live-cup")
      const [, set] = yield* emulator.awaitMessages(chat, 2)
      assert.strictEqual(set!.text, en.reminderSet.replace("{title}", "Live Casino Cup"))
      assert.deepStrictEqual(buttons(set!.reply_markup).map((b) => [b.text, b.callback_data]), [
        [en.cancelReminder, "v1:tournaments:unremind:t-live-cup"]
      ])
      const [stored] = yield* reminders("t-live-cup")
      assert.strictEqual(Number(stored!.chat_id), chat)
      assert.strictEqual(stored!.status, "pending")
      assert.strictEqual(stored!.starts_at.getTime() - stored!.fire_at.getTime(), 5 * 60_000, "due 5 minutes before")

      yield* press(chat, "v1:tournaments:remind:t-live-cup")
      const [, , again] = yield* emulator.awaitMessages(chat, 3)
      assert.strictEqual(again!.text, en.reminderAlreadySet.replace("{title}", "Live Casino Cup"))
      assert.lengthOf(yield* reminders("t-live-cup"), 1, "tapped twice: one reminder")

      // The digest of an id too long for a button finds its tournament.
      yield* press(chat, digest!)
      const [, , , long] = yield* emulator.awaitMessages(chat, 4)
      assert.strictEqual(long!.text, en.reminderSet.replace("{title}", "Long Name Cup"))
      assert.lengthOf(yield* reminders(longId), 1)

      // Too late, unknown, and (limit 2 in this file) one too many: friendly answers, nothing stored.
      yield* press(chat, "v1:tournaments:remind:t-soon")
      yield* press(chat, "v1:tournaments:remind:t-nope")
      yield* press(chat, "v1:tournaments:remind:t-later")
      const answers = (yield* emulator.awaitMessages(chat, 7)).slice(4).map((m) => m.text)
      assert.deepStrictEqual(answers, [en.reminderTooLate, en.reminderUnknown, en.reminderLimit])
      assert.lengthOf(yield* reminders("t-soon"), 0)
      assert.lengthOf(yield* reminders("t-later"), 0)

      // Cancel from the confirmation; again: nothing to cancel.
      yield* press(chat, "v1:tournaments:unremind:t-live-cup")
      yield* press(chat, "v1:tournaments:unremind:t-live-cup")
      const cancels = (yield* emulator.awaitMessages(chat, 9)).slice(7).map((m) => m.text)
      assert.deepStrictEqual(cancels, [en.reminderCancelled, en.reminderNotSet])
      assert.deepStrictEqual((yield* reminders("t-live-cup")).map((r) => r.status), ["cancelled"])

      // Forged or malformed arguments: the soft "no longer active", nothing else.
      const forged = ["v1:tournaments:remind:", "v1:tournaments:remind:bad id", "v1:tournaments:remind:~short",
        "v1:tournaments:remind:a:b", "v1:tournaments:remind"]
      for (const data of forged) yield* press(chat, data)
      // One more tap with an answer: handled in order after the forged ones, so they have been handled by then.
      yield* press(chat, "v1:tournaments:unremind:t-live-cup")
      const after = yield* emulator.awaitMessages(chat, 10)
      const answered = yield* emulator.awaitCalls((c) => c.method === "answerCallbackQuery", 10 + forged.length)
      assert.deepStrictEqual(answered.slice(9, 9 + forged.length).map((c) => c.params["text"]), forged.map(() => en.staleButton))
      assert.strictEqual(after[9]!.text, en.reminderNotSet)
      assert.lengthOf(yield* emulator.messages(chat), 10, "no message for a forged button")

      // In Italian for an Italian player.
      yield* press(952, "v1:tournaments:remind:t-live-cup", "it")
      const [italianSet] = yield* emulator.awaitMessages(952, 1)
      assert.strictEqual(italianSet!.text, italian.reminderSet.replace("{title}", "Live Casino Cup"))
    }), 60_000)

  it.live("a tap handled twice (its reply failed once) answers as the first run did: set, then cancelled", () =>
    Effect.gen(function*() {
      const { emulator, press, reminders, sql } = yield* setup("t-remind-rerun")
      const chat = 955
      // A title with what `String.replace` would read as patterns: shown as it is.
      yield* sql((q) => q`UPDATE ref_tournaments SET title = 'Live $& Cup $1' WHERE id = 't-live-cup'`)
      const failures = Effect.map(emulator.calls, (calls) => calls.filter((c) => c.method === "sendMessage" && c.status === 500))
      /** Presses `data` while every reply fails; answers the text the first run tried to send. */
      const pressFailingOnce = (data: string) =>
        Effect.gen(function*() {
          const before = (yield* failures).length
          yield* emulator.configureFaults({ errorRate: 1, errorStatus: 500, methods: ["sendMessage"] })
          yield* press(chat, data)
          const failed = yield* emulator.awaitCalls((c) => c.method === "sendMessage" && c.status === 500, before + 1)
          yield* emulator.configureFaults({ errorRate: 0 })
          return failed[before]!.params["text"]
        })

      for (const [i, [tournamentId, title]] of [["t-live-cup", "Live $& Cup $1"], [longId, "Long Name Cup"]].entries()) {
        // The long id travels as a digest, matched against the upcoming list, then against the player's reminders.
        const remind = CallbackData.encodeWithId("tournaments", "remind", tournamentId!)
        assert.strictEqual(remind.includes(":~"), tournamentId === longId)
        assert.strictEqual(yield* pressFailingOnce(remind), en.reminderSet.replace("{title}", () => title!))
        const set = (yield* emulator.awaitMessages(chat, 2 * i + 1, { timeout: "20 seconds" }))[2 * i]!
        assert.strictEqual(set.text, en.reminderSet.replace("{title}", () => title!), "the re-run: set, not already set")
        assert.deepStrictEqual((yield* reminders(tournamentId!)).map((r) => r.status), ["pending"])

        const [cancel] = buttons(set.reply_markup).map((b) => b.callback_data!)
        assert.strictEqual(yield* pressFailingOnce(cancel!), en.reminderCancelled)
        const cancelled = (yield* emulator.awaitMessages(chat, 2 * i + 2, { timeout: "20 seconds" }))[2 * i + 1]!
        assert.strictEqual(cancelled.text, en.reminderCancelled, "the re-run: cancelled, not 'no reminder'")
        assert.deepStrictEqual((yield* reminders(tournamentId!)).map((r) => r.status), ["cancelled"])
      }
      // Another tap (another update) finds nothing to cancel.
      yield* press(chat, "v1:tournaments:unremind:t-live-cup")
      assert.strictEqual((yield* emulator.awaitMessages(chat, 5))[4]!.text, en.reminderNotSet)
    }), 60_000)

  it.live("the Mini App: set (201, then 200), list, cancel (204); 401 without a token; 404, 409 too late, no chat, limit", () =>
    Effect.gen(function*() {
      const { call, signIn, reminders } = yield* setup("t-remind-app")
      for (const [method, path] of [["POST", "/v1/tg/reminders"], ["GET", "/v1/tg/reminders"], ["DELETE", "/v1/tg/reminders/t-live-cup"]]) {
        const response = yield* call(method!, path!, method === "POST" ? { tournament_id: "t-live-cup" } : undefined)
        assert.strictEqual(response.status, 401, `${method} without a token`)
        assert.strictEqual(codeOf(response.body), "token_invalid")
      }

      const player = yield* signIn(961, true)
      const created = yield* call("POST", "/v1/tg/reminders", { tournament_id: "t-live-cup" }, player)
      assert.strictEqual(created.status, 201)
      const reminder = created.body as Record<string, string>
      assert.strictEqual(reminder["tournament_id"], "t-live-cup")
      assert.strictEqual(reminder["tournament_name"], "Live Casino Cup")
      assert.strictEqual(reminder["status"], "pending")
      assert.strictEqual(Date.parse(reminder["starts_at"]!) - Date.parse(reminder["fire_at"]!), 5 * 60_000)
      const [stored] = yield* reminders("t-live-cup")
      assert.strictEqual(Number(stored!.chat_id), 961, "the identity's chat")

      const again = yield* call("POST", "/v1/tg/reminders", { tournament_id: "t-live-cup" }, player)
      assert.strictEqual(again.status, 200)
      assert.deepStrictEqual(again.body, created.body)

      const unknown = yield* call("POST", "/v1/tg/reminders", { tournament_id: "t-nope" }, player)
      assert.deepStrictEqual([unknown.status, codeOf(unknown.body)], [404, "not_found"])
      const running = yield* call("POST", "/v1/tg/reminders", { tournament_id: "t-weekly-race" }, player)
      assert.deepStrictEqual([running.status, codeOf(running.body)], [404, "not_found"], "a running tournament")
      const late = yield* call("POST", "/v1/tg/reminders", { tournament_id: "t-soon" }, player)
      assert.deepStrictEqual([late.status, codeOf(late.body)], [409, "too_late"])
      const bad = yield* call("POST", "/v1/tg/reminders", { tournament_id: "t-live-cup", extra: 1 }, player)
      assert.deepStrictEqual([bad.status, codeOf(bad.body)], [400, "invalid_request"])

      const second = yield* call("POST", "/v1/tg/reminders", { tournament_id: longId }, player)
      assert.strictEqual(second.status, 201)
      const third = yield* call("POST", "/v1/tg/reminders", { tournament_id: "t-later" }, player)
      assert.deepStrictEqual([third.status, codeOf(third.body)], [409, "reminder_limit"])

      const listed = yield* call("GET", "/v1/tg/reminders", undefined, player)
      assert.strictEqual(listed.status, 200)
      assert.deepStrictEqual((listed.body!["reminders"] as Array<Record<string, string>>).map((r) => r["tournament_id"]),
        [longId, "t-live-cup"], "the soonest first")

      const cancelled = yield* call("DELETE", "/v1/tg/reminders/t-live-cup", undefined, player)
      assert.deepStrictEqual([cancelled.status, cancelled.body], [204, null])
      const retried = yield* call("DELETE", "/v1/tg/reminders/t-live-cup", undefined, player)
      assert.strictEqual(retried.status, 204, "a retried cancel succeeds")
      const encoded = yield* call("DELETE", `/v1/tg/reminders/${encodeURIComponent(longId)}`, undefined, player)
      assert.strictEqual(encoded.status, 204)
      const empty = yield* call("GET", "/v1/tg/reminders", undefined, player)
      assert.deepStrictEqual(empty.body, { reminders: [] })
      assert.deepStrictEqual((yield* reminders("t-live-cup")).map((r) => r.status), ["cancelled"])

      // Signed in from elsewhere (no chat with the bot): nowhere to remind.
      const stranger = yield* signIn(962, false)
      const noChat = yield* call("POST", "/v1/tg/reminders", { tournament_id: "t-live-cup" }, stranger)
      assert.deepStrictEqual([noChat.status, codeOf(noChat.body)], [409, "no_chat"])

      // A path id that is no platform id.
      const malformed = yield* call("DELETE", `/v1/tg/reminders/${encodeURIComponent("bad id")}`, undefined, player)
      assert.deepStrictEqual([malformed.status, codeOf(malformed.body)], [400, "invalid_request"])
      assert.strictEqual((malformed.body as { error: { message: string } }).error.message, "invalid tournament id")
    }), 60_000)

  it.live("the Mini App's data routes have their own budget: using it up leaves the sign-in's alone", () =>
    Effect.gen(function*() {
      const { call, exchange } = yield* setup("t-remind-budget", {
        APP_RATE_PER_MIN_USER: "3",
        AUTH_RATE_PER_MIN_USER: "2",
        AUTH_RATE_PER_MIN_IP: "2"
      })
      const first = yield* exchange(971, true)
      assert.strictEqual(first.status, 200)
      const player = { authorization: `Bearer ${(first.body as { jwt: string }).jwt}` }
      const statuses: Array<number> = []
      for (let i = 0; i < 3; i++) statuses.push((yield* call("GET", "/v1/tg/reminders", undefined, player)).status)
      const limited = yield* call("GET", "/v1/tg/me", undefined, player)
      assert.deepStrictEqual([...statuses, limited.status], [200, 200, 200, 429], "reminders and me share the app's budget")
      assert.strictEqual(codeOf(limited.body), "rate_limited")
      // Neither the address's nor the user's sign-in budget (2 each) was touched: a second sign-in passes.
      assert.strictEqual((yield* exchange(971, true)).status, 200)
    }), 60_000)
})
