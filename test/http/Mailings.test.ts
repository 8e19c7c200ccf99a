/**
 * Mailings through the platform's API, with the http, notifier and sender roles on the real Redis and Postgres
 * and the emulator:
 * - a list of players: exactly the linked, consenting, reachable ones get one message each, in their language;
 *   each recipient is counted once in the progress (sent, skipped by reason), an id listed twice is one recipient;
 * - stored queries select by language and by link date;
 * - bad requests answer 400 with the contract's codes (a non-JSON or non-empty action body, a list too long), an
 *   unknown mailing 404, an illegal transition 409, no token 401; a repeated `idempotency_key` answers the first
 *   mailing; ids are accepted in upper case;
 * - a scheduled mailing waits for `send_at` (pausing and resuming it keeps it waiting); pausing a paused mailing
 *   with a reason replaces the reason;
 * - a started mailing paused more than 47 h ago is not resumed (`409 paused_too_long`), a scheduled one is;
 * - cancelling mid-way stops the sending at once and accounts for every recipient; pausing mid-way stops it too,
 *   the messages held back are pending again, and the resume sends the rest, nobody twice;
 * - a wave in which too many players blocked the bot pauses the mailing, which says why; after a resume the
 *   next bad wave pauses it again; so does a wave Telegram mostly refuses (400);
 * - a runner that dies after queuing a wave and before its commit: the messages are sent once and their
 *   recipients counted as sent, never queued again;
 * - a wave stuck on Redis: a pause meanwhile answers `503 busy` after 3 s; the wave gives up after 5 s, rolls back,
 *   and the mailing is paused and resumed as usual;
 * - recipients whose outbox entry was lost are queued again after `staleAfter` and sent once; a cancelled
 *   mailing's left behind are cancelled;
 * - the recipients of a mailing finished more than 90 days ago are deleted, its progress kept.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, Redacted } from "effect"
import * as Redis from "effect/persistence/Redis"
import { SqlClient } from "effect/sql/SqlClient"
import * as Postgres from "../../layers/Postgres.ts"
import * as Roles from "../../layers/Roles.ts"
import * as Telemetry from "../../layers/Telemetry.ts"
import { Notifications } from "../../services/Notifications.ts"
import * as Runner from "../../services/mailings/Runner.ts"
import type { mailingJson } from "../../src/http/Mailings.ts"
import { Templates } from "../../src/notify/Templates.ts"
import { Keys } from "../../streams/Keys.ts"
import { Outbox } from "../../streams/Outbox.ts"
import { startGateway } from "../support/Gateway.ts"
import { emulatorSetup } from "../support/EmulatorGateway.ts"
import { config } from "../support/Infra.ts"
import { eventually } from "../support/Processes.ts"

const token = "internal-token-0123456789abcdefghijklmnop"
const site = "https://casino.example.com"
const promo = { title: "Winter <Spins>", body: "50 free spins & a cashback", terms_url: `${site}/terms` }

/** What the API answers: a mailing, an error or a list (each test reads the part it expects). */
type Body = ReturnType<typeof mailingJson> & {
  readonly error: { readonly code: string; readonly message: string }
  readonly mailings: ReadonlyArray<ReturnType<typeof mailingJson>>
}

/** An outbox standing in for the real one (built on it), to fail or stall the runner's waves. */
type OutboxLayer = Layer.Layer<Outbox, never, Redis.Redis | Keys>

const setup = (
  label: string,
  extra: Record<string, string> = {},
  roles: { readonly notifier?: boolean; readonly sender?: boolean } = {}
) =>
  Effect.gen(function*() {
    const { emulator, databaseUrl, env } = yield* emulatorSetup(label, {
      INTERNAL_API_TOKEN: token,
      PUBLIC_URL: site,
      ...extra
    })
    const sql = Context.get(
      yield* Layer.build(Postgres.layerUrl(Redacted.make(databaseUrl)).pipe(Layer.provide(config(env)))),
      SqlClient
    )
    const { url } = yield* startGateway({ env, notifier: roles.notifier ?? true, sender: roles.sender ?? true })
    /** A sender role of its own (for a test that started without one). */
    const startSender = Effect.asVoid(startGateway({ env, http: false, sender: true }))
    /** A mailing runner of its own, with its timings and, if given, another outbox. */
    const startRunner = (options: Partial<Runner.Options> = {}, outbox?: OutboxLayer) =>
      Effect.asVoid(Layer.build(
        Runner.layerWith({ ...Runner.defaults, ...options }).pipe(
          Layer.provide(Layer.mergeAll(Notifications.layer, Templates.layer)),
          Layer.provide(outbox ?? Outbox.layer),
          Layer.provide(Roles.infrastructure),
          Layer.provide(Telemetry.layer),
          Layer.provide(config(env))
        )
      ))
    const call = (method: string, path: string, body?: unknown, bearer = token) =>
      Effect.promise(async () => {
        const response = await fetch(`${url}/v1/internal/mailings${path}`, {
          method,
          headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
          ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
        })
        return { status: response.status, headers: response.headers, body: (await response.json()) as Body }
      })
    const create = (body: unknown) => call("POST", "", body)
    const get = (id: string) => Effect.map(call("GET", `/${id}`), (r) => r.body)
    const awaitStatus = (id: string, status: string, timeoutMs = 30_000) =>
      eventually(`mailing ${status}`, Effect.map(get(id), (m) => m.status === status), timeoutMs)
    /** Players p-<i>, chat 8_000_000 + i, linked; `it` every other one; all consent to promotions. */
    const players = (from: number, count: number, options: { readonly linkedDaysAgo?: number } = {}) =>
      sql`
        INSERT INTO identities (telegram_user_id, platform_user_id, chat_id, language_code, consent_promotions, linked_at)
        SELECT 8000000 + i, 'p-' || i, 8000000 + i, CASE WHEN i % 2 = 0 THEN 'it' ELSE 'en' END, true,
               now() - make_interval(days => ${options.linkedDaysAgo ?? 0})
        FROM generate_series(${from}, ${from + count - 1}) AS i
      `.pipe(Effect.orDie)
    return { emulator, sql, call, create, get, awaitStatus, players, startSender, startRunner }
  })

const chatOf = (i: number) => 8_000_000 + i
const range = (from: number, count: number) => Array.from({ length: count }, (_, k) => from + k)

describe("mailings API", () => {
  it.live("a list: exactly the linked, consenting, reachable players get one message each; progress counts each once", () =>
    Effect.gen(function*() {
      const { emulator, sql, create, get, awaitStatus, players } = yield* setup("t-mail-list")
      yield* players(1, 200)
      // 181-190 said no to promotions, 191-200 blocked the bot earlier; 201-210 are not linked at all.
      yield* sql`UPDATE identities SET consent_promotions = false WHERE telegram_user_id BETWEEN ${chatOf(181)} AND ${chatOf(190)}`
      yield* sql`
        INSERT INTO chats (chat_id, chat_type, unreachable_at, unreachable_reason)
        SELECT 8000000 + i, 'private', now(), 'Forbidden: bot was blocked by the user' FROM generate_series(191, 200) AS i
      `
      const ids = [...range(1, 210).map((i) => `p-${i}`), "p-1", "p-2"]
      const created = yield* create({
        name: "Winter promo",
        template: "promo_announcement",
        vars: promo,
        segment: { user_ids: ids },
        wave_size: 40,
        jitter_ms: 50,
        created_by: "crm:anna"
      })
      assert.strictEqual(created.status, 201, JSON.stringify(created.body))
      const id = created.body.id
      assert.strictEqual(created.body.recipients, 210, "an id listed twice is one recipient")
      assert.strictEqual(created.body.consent, "promotions")
      assert.deepStrictEqual(created.body.segment, { user_ids: 210 })
      assert.strictEqual(created.body.created_by, "crm:anna")
      yield* awaitStatus(id, "completed")

      const done = yield* get(id)
      assert.deepStrictEqual(done.progress, {
        pending: 0,
        queued: 0,
        sent: 180,
        blocked: 0,
        failed: 0,
        cancelled: 0,
        skipped: { unlinked: 10, no_consent: 10, unreachable: 10 }
      })
      assert.isAtLeast(done.waves as number, 6)
      assert.isString(done.finished_at)
      assert.isNumber(done.rate_per_s)
      assert.isNull(done.next_wave_at)

      const sent = (yield* emulator.messages()).filter((m) => m.chatId >= chatOf(1) && m.chatId <= chatOf(210))
      assert.strictEqual(sent.length, 180)
      assert.deepStrictEqual(new Set(sent.map((m) => m.chatId)), new Set(range(1, 180).map(chatOf)))
      for (const m of sent) {
        const i = m.chatId - 8_000_000
        assert.include(m.text!, "Winter &lt;Spins&gt;")
        const buttons = JSON.stringify(m.reply_markup)
        assert.include(buttons, i % 2 === 0 ? "Apri l'app" : "Open the app", `chat ${m.chatId} in its language`)
      }
      // Every recipient heard from all its chats, at a recorded time.
      const open = yield* sql<{ n: number }>`
        SELECT count(*)::integer AS n FROM mailing_recipients
        WHERE mailing_id = ${id} AND (cardinality(pending_chats) > 0 OR finished_at IS NULL)
      `
      assert.strictEqual(open[0]!.n, 0)
    }))

  it.live("stored queries: by language, by link date, every linked player", () =>
    Effect.gen(function*() {
      const { create, awaitStatus, get, players } = yield* setup("t-mail-query")
      yield* players(1, 40)
      yield* players(41, 20, { linkedDaysAgo: 30 })
      const italian = yield* create({ template: "promo_announcement", vars: promo, segment: { query: "language", params: { language: "it" } } })
      assert.strictEqual(italian.status, 201, JSON.stringify(italian.body))
      assert.deepStrictEqual(italian.body.segment, { query: "language", params: { language: "it" } })
      const recent = yield* create({ template: "promo_announcement", vars: promo, segment: { query: "linked_since", params: { days: 7 } } })
      const everyone = yield* create({ template: "promo_announcement", vars: promo, segment: { query: "all_linked" } })
      for (const m of [italian, recent, everyone]) yield* awaitStatus(m.body.id, "completed")
      assert.strictEqual((yield* get(italian.body.id)).recipients, 30)
      assert.strictEqual((yield* get(recent.body.id)).recipients, 40)
      const all = yield* get(everyone.body.id)
      assert.strictEqual(all.recipients, 60)
      // Players who got the first mailings get this one too: mailings are separate (keys per mailing).
      assert.strictEqual(all.progress.sent, 60)
    }))

  it.live("bad requests: 400 with the contract's codes, 401 without the token, 404 unknown, 409 illegal, idempotent create", () =>
    Effect.gen(function*() {
      const { call, create, awaitStatus, players } = yield* setup("t-mail-errors")
      yield* players(1, 5)
      const good = { template: "promo_announcement", vars: promo, segment: { user_ids: ["p-1", "p-2"] } }
      const refused: ReadonlyArray<readonly [string, unknown, string]> = [
        ["unknown template", { ...good, template: "jackpot" }, "unknown_template"],
        ["missing variable", { ...good, vars: { title: "x" } }, "invalid_vars"],
        ["unknown variable", { ...good, vars: { ...promo, colour: "red" } }, "invalid_vars"],
        ["empty list", { ...good, segment: { user_ids: [] } }, "invalid_request"],
        ["unknown stored query", { ...good, segment: { query: "whales" } }, "invalid_request"],
        ["SQL in a segment", { ...good, segment: { query: "all_linked", params: { where: "1=1" } } }, "invalid_request"],
        ["query without its params", { ...good, segment: { query: "language" } }, "invalid_request"],
        ["a wave of zero", { ...good, wave_size: 0 }, "invalid_request"],
        ["a rate above 1", { ...good, max_block_rate: 1.5 }, "invalid_request"],
        ["a bad send_at", { ...good, send_at: "tomorrow" }, "invalid_request"],
        ["an unknown field", { ...good, segmnt: {} }, "invalid_request"],
        ["a consent that loosens the template's", { ...good, consent: "payouts" }, "consent_not_allowed"],
        ["not JSON", "{", "invalid_json"]
      ]
      for (const [label, body, code] of refused) {
        const response = yield* create(body)
        assert.strictEqual(response.status, 400, label)
        assert.strictEqual(response.body.error.code, code, `${label}: ${JSON.stringify(response.body)}`)
      }
      // A list too long is refused before its ids are decoded (a body over 1 MB: read two at a time).
      const tooLong = yield* create({ ...good, segment: { user_ids: Array.from({ length: 100_001 }, (_, k) => `p-${k}`) } })
      assert.strictEqual(tooLong.status, 400)
      assert.strictEqual(tooLong.body.error.code, "invalid_request")
      assert.include(tooLong.body.error.message, "lists 100001 ids, at most 100000")
      assert.strictEqual((yield* call("POST", "", good, "wrong-token-0123456789abcdefghijklmnop")).status, 401)
      assert.strictEqual((yield* call("GET", "/00000000-0000-4000-8000-000000000000")).status, 404)
      const unknown = yield* call("POST", "/not-a-uuid/pause")
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(unknown.body.error.code, "mailing_not_found")

      const first = yield* create({ ...good, idempotency_key: "crm-42" })
      assert.strictEqual(first.status, 201)
      const again = yield* create({ ...good, idempotency_key: "crm-42" })
      assert.strictEqual(again.status, 200)
      assert.strictEqual(again.body.id, first.body.id)
      const id = first.body.id
      yield* awaitStatus(id, "completed")
      // The id in upper case is the same mailing.
      const upper = yield* call("GET", `/${id.toUpperCase()}`)
      assert.strictEqual(upper.status, 200)
      assert.strictEqual(upper.body.id, id)
      // Action bodies: nothing or `{}` (a reason for a pause); anything else is refused before the mailing is looked at.
      const bodies: ReadonlyArray<readonly [string, unknown, string]> = [
        ["pause", "reason: wrong link", "invalid_json"],
        ["pause", { reason: "x", extra: 1 }, "invalid_request"],
        ["resume", "{", "invalid_json"],
        ["resume", { force: true }, "invalid_request"],
        ["resume", [], "invalid_request"],
        ["cancel", { reason: "oops" }, "invalid_request"],
        ["cancel", "null", "invalid_request"]
      ]
      for (const [action, body, code] of bodies) {
        const response = yield* call("POST", `/${id}/${action}`, body)
        assert.strictEqual(response.status, 400, `${action} ${JSON.stringify(body)}`)
        assert.strictEqual(response.body.error.code, code, `${action} ${JSON.stringify(body)}: ${JSON.stringify(response.body)}`)
      }
      assert.strictEqual((yield* call("POST", `/${id.toUpperCase()}/resume`, {})).body.error.code, "illegal_transition")
      assert.strictEqual((yield* call("POST", `/${id}/cancel`, "  ")).body.error.code, "illegal_transition")
      for (const action of ["resume", "pause", "cancel"]) {
        const response = yield* call("POST", `/${id}/${action}`)
        assert.strictEqual(response.status, 409, action)
        assert.strictEqual(response.body.error.code, "illegal_transition")
      }
      const listed = yield* call("GET", "?status=completed&limit=10")
      assert.strictEqual(listed.status, 200)
      assert.deepStrictEqual(listed.body.mailings.map((m) => m.id), [id])
      assert.strictEqual((yield* call("GET", "?status=sleeping")).status, 400)
    }))

  it.live("a scheduled mailing waits for send_at, also through a pause and a resume, then starts", () =>
    Effect.gen(function*() {
      const { emulator, call, create, get, awaitStatus, players } = yield* setup("t-mail-later")
      yield* players(1, 10)
      const sendAt = new Date(Date.now() + 3000)
      const created = yield* create({
        template: "promo_announcement",
        vars: promo,
        segment: { query: "all_linked" },
        send_at: sendAt.toISOString()
      })
      assert.strictEqual(created.body.status, "scheduled")
      assert.strictEqual(created.body.recipients, 0, "a query is expanded when the mailing starts")
      const id = created.body.id
      assert.strictEqual((yield* call("POST", `/${id}/pause`, { reason: "checking the terms link" })).body.status, "paused")
      const pausedAt = (yield* get(id)).paused_at
      assert.strictEqual((yield* get(id)).pause_reason, "checking the terms link")
      // Paused again with a reason: the reason is replaced, the pause keeps its time; without one, nothing changes.
      const again = yield* call("POST", `/${id}/pause`, { reason: "waiting for legal" })
      assert.strictEqual(again.status, 200)
      assert.deepStrictEqual([again.body.pause_reason, again.body.paused_at], ["waiting for legal", pausedAt])
      assert.strictEqual((yield* call("POST", `/${id}/pause`)).body.pause_reason, "waiting for legal")
      assert.strictEqual((yield* call("POST", `/${id}/resume`)).body.status, "scheduled")
      yield* awaitStatus(id, "completed", 15_000)
      const done = yield* get(id)
      assert.isAtLeast(Date.parse(done.started_at as string), sendAt.getTime() - 5)
      assert.strictEqual(done.recipients, 10)
      assert.strictEqual((yield* emulator.messages()).length, 10)
    }))

  it.live("cancelling mid-way stops the sending and accounts for every recipient", () =>
    Effect.gen(function*() {
      // 40 messages/s (bulk lane), so the mailing is still running when it is cancelled.
      const { emulator, sql, call, create, get, players } = yield* setup("t-mail-cancel", { TG_GLOBAL_RATE: "40" })
      yield* players(1, 400)
      const created = yield* create({ template: "promo_announcement", vars: promo, segment: { query: "all_linked" }, wave_size: 40 })
      const id = created.body.id
      yield* eventually("some sent", Effect.map(emulator.messages(), (m) => m.length >= 40))
      const cancelled = yield* call("POST", `/${id}/cancel`)
      assert.strictEqual(cancelled.status, 200)
      assert.strictEqual(cancelled.body.status, "cancelled")
      yield* eventually("every recipient accounted for", Effect.map(get(id), (m) => {
        const p = m.progress
        return p.queued === 0 && p.pending === 0
      }))
      const after = (yield* emulator.messages()).length
      yield* Effect.sleep("1 second")
      const sent = (yield* emulator.messages()).length
      assert.strictEqual(sent, after, "nothing sent after the cancellation settled")
      const done = yield* get(id)
      const p = done.progress
      assert.strictEqual(p.sent, sent, "every message sent is counted as sent")
      assert.strictEqual(p.sent + p.cancelled, 400)
      // Nobody of a wave never released was sent anything: at most the released waves went.
      assert.isAtMost(p.sent, done.waves * 40)
      const unreleased = yield* sql<{ n: number }>`
        SELECT count(*)::integer AS n FROM mailing_recipients WHERE mailing_id = ${id} AND wave IS NULL AND status <> 'cancelled'
      `
      assert.strictEqual(unreleased[0]!.n, 0, "recipients of waves never released are cancelled")
      assert.strictEqual((yield* call("POST", `/${id}/cancel`)).status, 200, "cancelling again changes nothing")
      assert.strictEqual((yield* call("POST", `/${id}/resume`)).status, 409)
    }))

  it.live("paused mid-way: the sending stops, held-back messages are pending again; resumed: the rest, nobody twice", () =>
    Effect.gen(function*() {
      const { emulator, call, create, get, players } = yield* setup("t-mail-pause", { TG_GLOBAL_RATE: "60" })
      yield* players(1, 300)
      const created = yield* create({ template: "promo_announcement", vars: promo, segment: { query: "all_linked" }, wave_size: 60 })
      const id = created.body.id
      yield* eventually("some sent", Effect.map(emulator.messages(), (m) => m.length >= 40))
      assert.strictEqual((yield* call("POST", `/${id}/pause`)).body.status, "paused")
      yield* eventually("held back", Effect.map(get(id), (m) => m.progress.queued === 0))
      const paused = (yield* get(id)).progress
      const sent = (yield* emulator.messages()).length
      assert.strictEqual(paused.sent, sent)
      assert.strictEqual(paused.pending, 300 - sent)
      yield* Effect.sleep("1 second")
      assert.strictEqual((yield* emulator.messages()).length, sent, "nothing sent while paused")
      assert.strictEqual((yield* call("POST", `/${id}/resume`)).body.status, "running")
      yield* eventually("completed", Effect.map(get(id), (m) => m.status === "completed"))
      const chats = (yield* emulator.messages()).map((m) => m.chatId)
      assert.strictEqual(chats.length, 300)
      assert.strictEqual(new Set(chats).size, 300)
    }))

  it.live("a wave where too many players blocked the bot pauses the mailing, which says why", () =>
    Effect.gen(function*() {
      const { emulator, sql, call, create, get, players } = yield* setup("t-mail-blocks")
      yield* players(1, 400)
      // Every fifth player blocked the bot (the emulator answers 403): 20% per wave, the limit is 5%.
      yield* emulator.blockUsers(range(1, 400).filter((i) => i % 5 === 0).map(chatOf))
      const created = yield* create({
        template: "promo_announcement",
        vars: promo,
        segment: { user_ids: range(1, 400).map((i) => `p-${i}`) },
        wave_size: 100,
        min_sample: 50,
        // No pause or jitter between waves: the flow control alone keeps wave 2 back until wave 1 is weighed.
        jitter_ms: 0
      })
      const id = created.body.id
      yield* eventually("paused", Effect.map(get(id), (m) => m.status === "paused"))
      const paused = yield* get(id)
      assert.match(paused.pause_reason as string, /^block rate \d+\.\d% in wave 1 is above 5\.0% \(\d+ of \d+ recipients answered have blocked the bot\)$/)
      yield* eventually("wave 1 settled", Effect.map(get(id), (m) => m.progress.queued === 0))
      // The pause may land before wave 1 is all answered: its rest is held back (pending again). Either way only
      // wave 1 went, at least `min_sample` answered, and the blocks are the fifth players of those answered.
      const settled = yield* get(id)
      const progress = settled.progress
      assert.strictEqual(settled.waves, 1, "only the first wave went")
      assert.strictEqual(progress.sent + progress.blocked + progress.pending, 400, JSON.stringify(progress))
      assert.isAtLeast(progress.sent + progress.blocked, 50)
      assert.isAtMost(progress.sent + progress.blocked, 100)
      const blocked = yield* sql<{ readonly seq: number }>`
        SELECT seq FROM mailing_recipients WHERE mailing_id = ${id} AND status = 'blocked'
      `
      assert.strictEqual(blocked.length, progress.blocked)
      assert.isTrue(blocked.every((r) => r.seq % 5 === 0 && r.seq <= 100), "only players of wave 1 who blocked the bot")
      assert.strictEqual(progress.sent, (yield* emulator.messages()).length)

      // The operator looked at wave 1 and resumed: the next wave blocked as much pauses the mailing again.
      assert.strictEqual((yield* call("POST", `/${id}/resume`)).body.status, "running")
      yield* eventually("paused again", Effect.map(get(id), (m) => m.status === "paused"))
      assert.match((yield* get(id)).pause_reason as string, /in wave 2 is above 5\.0%/)
    }))

  it.live("a wave Telegram mostly refuses (400) pauses the mailing on its failure rate", () =>
    Effect.gen(function*() {
      const { emulator, sql, create, get, players } = yield* setup("t-mail-failures")
      yield* players(1, 120)
      // A third of the chats are unknown to Telegram: "400 Bad Request: chat not found", dead-lettered.
      yield* emulator.setChatState(range(1, 120).filter((i) => i % 3 === 0).map(chatOf), "not_found")
      const created = yield* create({
        template: "promo_announcement",
        vars: promo,
        segment: { user_ids: range(1, 120).map((i) => `p-${i}`) },
        wave_size: 60,
        min_sample: 30,
        jitter_ms: 0
      })
      const id = created.body.id
      yield* eventually("paused", Effect.map(get(id), (m) => m.status === "paused"))
      assert.match((yield* get(id)).pause_reason as string, /^failure rate \d+\.\d% in wave 1 is above 20\.0% \(\d+ of \d+ messages refused by Telegram/)
      yield* eventually("wave 1 settled", Effect.map(get(id), (m) => m.progress.queued === 0))
      // As above: only wave 1 went; what of it was not answered before the pause is pending again.
      const settled = yield* get(id)
      const progress = settled.progress
      assert.strictEqual(settled.waves, 1, "only the first wave went")
      assert.strictEqual(progress.sent + progress.failed + progress.pending, 120, JSON.stringify(progress))
      assert.isAtLeast(progress.sent + progress.failed, 30)
      assert.isAtMost(progress.failed, 20)
      const failed = yield* sql<{ readonly seq: number }>`
        SELECT seq FROM mailing_recipients WHERE mailing_id = ${id} AND status = 'failed'
      `
      assert.isTrue(failed.every((r) => r.seq % 3 === 0 && r.seq <= 60), "only unknown chats of wave 1 failed")
      assert.strictEqual(progress.sent, (yield* emulator.messages()).length)
    }))
  it.live("a started mailing paused more than 47 h ago is not resumed (409 paused_too_long); one never started is", () =>
    Effect.gen(function*() {
      const { sql, call, create, get, players } = yield* setup("t-mail-too-long", {}, { notifier: false, sender: false })
      yield* players(1, 3)
      const later = new Date(Date.now() + 86_400_000).toISOString()
      const created = yield* create({ template: "promo_announcement", vars: promo, segment: { user_ids: ["p-1", "p-2"] }, send_at: later })
      const id = created.body.id
      assert.strictEqual((yield* call("POST", `/${id}/pause`)).body.status, "paused")
      // As if it had started and been paused two days ago: the sender no longer remembers what it sent.
      yield* sql`UPDATE mailings SET started_at = now() - interval '49 hours', paused_at = now() - interval '48 hours' WHERE id = ${id}`
      const refused = yield* call("POST", `/${id}/resume`)
      assert.strictEqual(refused.status, 409)
      assert.strictEqual(refused.body.error.code, "paused_too_long")
      assert.include(refused.body.error.message, "cancel it and create a new mailing")
      assert.strictEqual((yield* get(id)).status, "paused")
      // Paused as long, but never started: nothing was sent, so it may go.
      yield* sql`UPDATE mailings SET started_at = NULL WHERE id = ${id}`
      assert.strictEqual((yield* call("POST", `/${id}/resume`)).body.status, "scheduled")
      // 46 h is still fine.
      assert.strictEqual((yield* call("POST", `/${id}/pause`)).status, 200)
      yield* sql`UPDATE mailings SET started_at = now() - interval '47 hours', paused_at = now() - interval '46 hours' WHERE id = ${id}`
      assert.strictEqual((yield* call("POST", `/${id}/resume`)).body.status, "running")
      assert.strictEqual((yield* call("POST", `/${id}/cancel`)).body.status, "cancelled")
    }))

  it.live("a runner dying after queuing a wave and before its commit: each message sent once, counted sent, not queued again", () =>
    Effect.gen(function*() {
      const { emulator, create, get, awaitStatus, players, startRunner } = yield* setup("t-mail-crash", {}, { notifier: false })
      yield* players(1, 30)
      // The first wave's messages reach Redis, then the runner dies before committing; Redis is gone after that,
      // so no later wave can queue anyone again: whoever is reached is reached by the first wave's messages.
      let appends = 0
      const crashing: OutboxLayer = Layer.effect(Outbox)(Effect.gen(function*() {
        const real = yield* Outbox
        return {
          enqueue: real.enqueue,
          enqueueAll: (messages) =>
            Effect.suspend(() =>
              ++appends === 1
                ? Effect.andThen(real.enqueueAll(messages), Effect.die(new Error("the runner died after queuing")))
                : Effect.fail(new Redis.RedisError({ cause: new Error("Redis is gone") }))
            )
        }
      })).pipe(Layer.provide(Outbox.layer))
      yield* startRunner({}, crashing)
      const created = yield* create({ template: "promo_announcement", vars: promo, segment: { user_ids: range(1, 30).map((i) => `p-${i}`) }, wave_size: 30 })
      const id = created.body.id
      yield* awaitStatus(id, "completed")
      const done = yield* get(id)
      assert.strictEqual(done.waves, 0, "the wave never committed")
      assert.deepStrictEqual(done.progress, {
        pending: 0,
        queued: 0,
        sent: 30,
        blocked: 0,
        failed: 0,
        cancelled: 0,
        skipped: { unlinked: 0, no_consent: 0, unreachable: 0 }
      })
      const chats = (yield* emulator.messages()).map((m) => m.chatId)
      assert.strictEqual(chats.length, 30)
      assert.deepStrictEqual(new Set(chats), new Set(range(1, 30).map(chatOf)))
    }))

  it.live("a wave stuck on Redis: a pause meanwhile answers 503 busy after 3 s; the wave rolls back after 5 s", () =>
    Effect.gen(function*() {
      const { emulator, call, create, get, awaitStatus, players, startRunner } = yield* setup("t-mail-busy", {}, { notifier: false })
      yield* players(1, 10)
      const stuck = yield* Deferred.make<void>()
      let appends = 0
      const stalling: OutboxLayer = Layer.effect(Outbox)(Effect.gen(function*() {
        const real = yield* Outbox
        return {
          enqueue: real.enqueue,
          enqueueAll: (messages) =>
            Effect.suspend(() => ++appends === 1 ? Effect.andThen(Deferred.succeed(stuck, undefined), Effect.never) : real.enqueueAll(messages))
        }
      })).pipe(Layer.provide(Outbox.layer))
      yield* startRunner({}, stalling)
      const created = yield* create({ template: "promo_announcement", vars: promo, segment: { user_ids: range(1, 10).map((i) => `p-${i}`) } })
      const id = created.body.id
      yield* Deferred.await(stuck)
      const asked = Date.now()
      const busy = yield* call("POST", `/${id}/pause`, { reason: "wrong link" })
      const waited = Date.now() - asked
      assert.strictEqual(busy.status, 503, JSON.stringify(busy.body))
      assert.strictEqual(busy.body.error.code, "busy")
      assert.strictEqual(busy.headers.get("retry-after"), "2")
      assert.isAtLeast(waited, 2900)
      assert.isBelow(waited, 4900, "answered before the wave gave up")
      assert.strictEqual((yield* get(id)).status, "running", "nothing changed")
      // The wave gives up at 5 s and rolls back; the next one goes.
      yield* awaitStatus(id, "completed", 15_000)
      const done = yield* get(id)
      assert.strictEqual(done.progress.sent, 10)
      assert.strictEqual(done.waves, 1)
      assert.strictEqual((yield* emulator.messages()).length, 10)
    }))

  it.live("recipients whose outbox entry was lost are queued again after staleAfter and sent once; a cancelled mailing's are cancelled", () =>
    Effect.gen(function*() {
      const { emulator, sql, call, create, get, awaitStatus, players, startRunner, startSender } = yield* setup(
        "t-mail-stale",
        {},
        { notifier: false, sender: false }
      )
      yield* players(1, 20)
      yield* startRunner({ staleAfter: "2 seconds", sweepEvery: "500 millis" })
      const created = yield* create({ template: "promo_announcement", vars: promo, segment: { user_ids: range(1, 20).map((i) => `p-${i}`) }, wave_size: 20 })
      const id = created.body.id
      yield* eventually("wave 1 queued", Effect.map(get(id), (m) => m.progress.queued === 20))
      // No sender: nobody answers. After 2 s the recipients are pending again and the next wave queues them again.
      yield* eventually("queued again", Effect.map(get(id), (m) => m.waves >= 2 && m.progress.queued === 20), 10_000)
      yield* startSender
      yield* awaitStatus(id, "completed")
      assert.strictEqual((yield* get(id)).progress.sent, 20)
      const chats = (yield* emulator.messages()).map((m) => m.chatId)
      assert.strictEqual(chats.length, 20, "each chat once, however many copies were queued")
      assert.strictEqual(new Set(chats).size, 20)

      // A cancelled mailing: a recipient queued long ago, and one pending (as a lost race would leave it).
      const later = new Date(Date.now() + 86_400_000).toISOString()
      const other = (yield* create({ template: "promo_announcement", vars: promo, segment: { user_ids: ["p-1", "p-2", "p-3"] }, send_at: later })).body.id
      assert.strictEqual((yield* call("POST", `/${other}/cancel`)).body.status, "cancelled")
      yield* sql`UPDATE mailing_recipients SET status = 'queued', queued_at = now() - interval '1 hour' WHERE mailing_id = ${other} AND seq = 1`
      yield* sql`UPDATE mailing_recipients SET status = 'pending', finished_at = NULL WHERE mailing_id = ${other} AND seq = 2`
      yield* eventually("left behind cancelled", Effect.map(get(other), (m) => m.progress.cancelled === 3), 10_000)
    }))

  it.live("the recipients of a mailing finished more than 90 days ago are deleted, its progress kept", () =>
    Effect.gen(function*() {
      const { sql, create, get, awaitStatus, players, startRunner } = yield* setup("t-mail-purge")
      yield* players(1, 12)
      const old = (yield* create({ template: "promo_announcement", vars: promo, segment: { user_ids: range(1, 14).map((i) => `p-${i}`) } })).body.id
      const recent = (yield* create({ template: "promo_announcement", vars: promo, segment: { user_ids: ["p-1"] } })).body.id
      yield* awaitStatus(old, "completed")
      yield* awaitStatus(recent, "completed")
      const before = yield* get(old)
      yield* sql`UPDATE mailings SET finished_at = now() - interval '91 days' WHERE id = ${old}`
      // The purge runs when a runner starts, then every hour.
      yield* startRunner()
      const left = (mailing: string) =>
        Effect.map(sql<{ n: number }>`SELECT count(*)::integer AS n FROM mailing_recipients WHERE mailing_id = ${mailing}`, (r) => r[0]!.n)
      yield* eventually("purged", Effect.map(Effect.orDie(left(old)), (n) => n === 0), 10_000)
      const after = yield* get(old)
      assert.deepStrictEqual(after.progress, before.progress)
      assert.deepStrictEqual(after.progress.skipped, { unlinked: 2, no_consent: 0, unreachable: 0 })
      assert.strictEqual(after.progress.sent, 12)
      assert.strictEqual(yield* Effect.orDie(left(recent)), 1, "a recent mailing keeps its recipients")
    }))
})
