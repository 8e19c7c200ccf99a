/**
 * Mailings through the platform's API, with the http, notifier and sender roles on the real Redis and Postgres
 * and the emulator:
 * - a list of players: exactly the linked, consenting, reachable ones get one message each, in their language;
 *   each recipient is counted once in the progress (sent, skipped by reason), an id listed twice is one recipient;
 * - stored queries select by language and by link date;
 * - bad requests answer 400 with the contract's codes, an unknown mailing 404, an illegal transition 409, no
 *   token 401; a repeated `idempotency_key` answers the first mailing;
 * - a scheduled mailing waits for `send_at` (pausing and resuming it keeps it waiting);
 * - cancelling mid-way stops the sending at once and accounts for every recipient; pausing mid-way stops it too,
 *   the messages held back are pending again, and the resume sends the rest, nobody twice;
 * - a wave in which too many players blocked the bot pauses the mailing, which says why; after a resume the
 *   next bad wave pauses it again; so does a wave Telegram mostly refuses (400).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Postgres from "../../layers/Postgres.ts"
import { Emulator } from "../../src/emulator/index.ts"
import type { mailingJson } from "../../src/http/Mailings.ts"
import { startGateway } from "../support/Gateway.ts"
import { config, gatewayEnv, testDatabase, testPrefix } from "../support/Infra.ts"
import { eventually } from "../support/Processes.ts"

const token = "internal-token-0123456789abcdefghijklmnop"
const site = "https://casino.example.com"
const promo = { title: "Winter <Spins>", body: "50 free spins & a cashback", terms_url: `${site}/terms` }

/** What the API answers: a mailing, an error or a list (each test reads the part it expects). */
type Body = ReturnType<typeof mailingJson> & {
  readonly error: { readonly code: string; readonly message: string }
  readonly mailings: ReadonlyArray<ReturnType<typeof mailingJson>>
}

const setup = (label: string, extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const emulator = Context.get(yield* Layer.build(Emulator.layer()), Emulator)
    const prefix = yield* testPrefix(label)
    const databaseUrl = yield* testDatabase
    const env = gatewayEnv({
      prefix,
      databaseUrl,
      apiRoot: emulator.url,
      extra: { BOT_TOKEN: emulator.token, INTERNAL_API_TOKEN: token, PUBLIC_URL: site, ...extra }
    })
    const sql = Context.get(
      yield* Layer.build(Postgres.layerUrl(Redacted.make(databaseUrl)).pipe(Layer.provide(config(env)))),
      SqlClient
    )
    const { url } = yield* startGateway({ env, notifier: true, sender: true })
    const call = (method: string, path: string, body?: unknown, bearer = token) =>
      Effect.promise(async () => {
        const response = await fetch(`${url}/v1/internal/mailings${path}`, {
          method,
          headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
          ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
        })
        return { status: response.status, body: (await response.json()) as Body }
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
    return { emulator, sql, call, create, get, awaitStatus, players }
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
      assert.strictEqual((yield* get(id)).pause_reason, "checking the terms link")
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
      const { emulator, call, create, get, players } = yield* setup("t-mail-cancel", { TG_GLOBAL_RATE: "40" })
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
      const p = (yield* get(id)).progress
      assert.strictEqual(p.sent, sent, "every message sent is counted as sent")
      assert.strictEqual(p.sent + p.cancelled, 400)
      assert.isAbove(p.cancelled, 200)
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
      const { emulator, call, create, get, players } = yield* setup("t-mail-blocks")
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
      const progress = (yield* get(id)).progress
      assert.strictEqual(progress.sent + progress.blocked, 100, "only the first wave went")
      assert.strictEqual(progress.blocked, 20)
      assert.strictEqual(progress.pending, 300)

      // The operator looked at wave 1 and resumed: the next wave blocked as much pauses the mailing again.
      assert.strictEqual((yield* call("POST", `/${id}/resume`)).body.status, "running")
      yield* eventually("paused again", Effect.map(get(id), (m) => m.status === "paused"))
      assert.match((yield* get(id)).pause_reason as string, /in wave 2 is above 5\.0%/)
    }))

  it.live("a wave Telegram mostly refuses (400) pauses the mailing on its failure rate", () =>
    Effect.gen(function*() {
      const { emulator, create, get, players } = yield* setup("t-mail-failures")
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
      const progress = (yield* get(id)).progress
      assert.strictEqual(progress.failed, 20, JSON.stringify(progress))
      assert.strictEqual(progress.sent, 40)
      assert.strictEqual(progress.pending, 60)
    }))
})
