/**
 * `POST /v1/internal/notify`: direct sends through the notification path. Players and chats are resolved like
 * events (consent, link, reachability), skipped targets are named with their reason, a repeated request with
 * the same `idempotency_key` sends nothing new, and bad requests get the contract's 4xx with nothing queued.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Postgres from "../../layers/Postgres.ts"
import { Identity } from "../../services/Identity.ts"
import { startGateway } from "../support/Gateway.ts"
import { emulatorSetup } from "../support/EmulatorGateway.ts"
import { config } from "../support/Infra.ts"

const token = "internal-token-for-tests-0123456789abcdef"

const setup = Effect.gen(function*() {
  const { emulator, databaseUrl, env } = yield* emulatorSetup("t-notify", { INTERNAL_API_TOKEN: token, BOT_USERNAME: "casino_bot" })
  const services = yield* Layer.build(Identity.layer.pipe(
    Layer.provideMerge(Postgres.layerUrl(Redacted.make(databaseUrl))),
    Layer.provide(config(env))
  ))
  const { url } = yield* startGateway({ env, sender: true })
  const post = (body: unknown, auth = `Bearer ${token}`) =>
    Effect.promise(async () => {
      const response = await fetch(`${url}/v1/internal/notify`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: auth },
        body: JSON.stringify(body)
      })
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    })
  return { emulator, post, identity: Context.get(services, Identity), sql: Context.get(services, SqlClient) }
})

const promo = { title: "Black Friday", body: "Spins for everyone." }

describe("POST /v1/internal/notify", () => {
  it.live("queues for consenting, linked, reachable targets and names every skipped one", () =>
    Effect.gen(function*() {
      const { emulator, post, identity, sql } = yield* setup
      yield* identity.link({ telegramUserId: 8_100_001, platformUserId: "u-yes", chatId: 8_100_001 }, "platform")
      yield* identity.setConsents(8_100_001, { promotions: true }, "user")
      yield* identity.link({ telegramUserId: 8_100_002, platformUserId: "u-no", chatId: 8_100_002 }, "platform")
      yield* identity.link({ telegramUserId: 8_100_003, platformUserId: "u-blocked", chatId: 8_100_003 }, "platform")
      yield* identity.setConsents(8_100_003, { promotions: true }, "user")
      yield* sql`INSERT INTO chats (chat_id, chat_type, unreachable_at) VALUES (8100003, 'private', now())`
      yield* sql`INSERT INTO chats (chat_id, chat_type) VALUES (-100555, 'supergroup')`

      const answer = yield* post({
        template: "promo_announcement",
        vars: promo,
        targets: [
          { user_id: "u-yes" }, { user_id: "u-no" }, { user_id: "u-unknown" }, { user_id: "u-blocked" },
          { chat_id: -100555 }, { chat_id: 999 }
        ],
        idempotency_key: "black-friday-1"
      })
      assert.strictEqual(answer.status, 202)
      assert.deepStrictEqual(answer.body, {
        accepted: 2,
        skipped: [
          { target: { user_id: "u-no" }, reason: "no_consent" },
          { target: { user_id: "u-unknown" }, reason: "unlinked" },
          { target: { user_id: "u-blocked" }, reason: "unreachable" },
          { target: { chat_id: 999 }, reason: "unknown_chat" }
        ]
      })
      const [message] = yield* emulator.awaitMessages(8_100_001, 1)
      assert.strictEqual(message!.text, "📣 <b>Black Friday</b>\nSpins for everyone.")
      const [group] = yield* emulator.awaitMessages(-100555, 1)
      assert.isUndefined(group!.reply_markup, "no web_app button in a group (and no PUBLIC_URL here)")

      // The same request again: answered alike, nothing sent twice.
      const again = yield* post({
        template: "promo_announcement", vars: promo, targets: [{ user_id: "u-yes" }], idempotency_key: "black-friday-1"
      })
      assert.strictEqual(again.status, 202)
      yield* post({ template: "kyc_status_changed", vars: { status: "pending" }, targets: [{ user_id: "u-yes" }] })
      const messages = yield* emulator.awaitMessages(8_100_001, 2)
      assert.lengthOf(messages, 2)
      assert.include(messages[1]!.text!, "documents were received", "the later notification, not a second promo")
      assert.lengthOf(yield* emulator.messages(8_100_001), 2)
    }))

  it.live("refuses bad requests with the contract's errors and queues nothing", () =>
    Effect.gen(function*() {
      const { emulator, post, identity } = yield* setup
      yield* identity.link({ telegramUserId: 8_200_001, platformUserId: "u-1", chatId: 8_200_001 }, "platform")
      const target = [{ user_id: "u-1" }]
      const cases: ReadonlyArray<[unknown, number, string, string?]> = [
        [{ template: "kyc_status_changed", vars: { status: "approved" }, targets: target }, 401, "unauthorized", "Bearer wrong"],
        [{ template: "no_such", targets: target }, 400, "unknown_template"],
        [{ template: "tournament_start", vars: { tournament_id: "t-1" }, targets: target }, 400, "invalid_vars"],
        [{ template: "kyc_status_changed", vars: { status: "approved", name: "Mario" }, targets: target }, 400, "invalid_vars"],
        [{ template: "kyc_status_changed", vars: { status: "approved" }, targets: [] }, 400, "invalid_request"],
        [{ template: "kyc_status_changed", vars: { status: "approved" }, targets: [{ user_id: "u-1", chat_id: 1 }] }, 400, "invalid_request"],
        [{ template: "kyc_status_changed", vars: { status: "approved" }, targets: [{}] }, 400, "invalid_request"]
      ]
      for (const [body, status, code, auth] of cases) {
        const answer = yield* post(body, auth)
        assert.strictEqual(answer.status, status, JSON.stringify(body))
        assert.strictEqual((answer.body["error"] as { code: string }).code, code, JSON.stringify(body))
      }
      yield* post({ template: "kyc_status_changed", vars: { status: "approved" }, targets: target })
      const [message] = yield* emulator.awaitMessages(8_200_001, 1)
      assert.include(message!.text!, "identity is verified", "the first message the chat gets is the valid one")
    }))
})
