/**
 * One-time deep links: the platform's API makes them (bearer token, Schema-checked bodies, `t.me` links), tokens
 * are URL-safe, at most 64 characters and unrelated to their action; resolution consumes exactly the uses a link
 * has, even when 50 chats present one token at once, tells reused, expired, bound-to-someone-else and unknown
 * tokens apart, and answers an arrival handled again (a handler re-run) as the first time, using nothing more.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Postgres from "../../layers/Postgres.ts"
import { DeepLinks } from "../../services/DeepLinks.ts"
import { config, gatewayEnv, testDatabase, testPrefix } from "../support/Infra.ts"
import { startGateway } from "../support/Gateway.ts"

const internalToken = "internal-token-0123456789abcdefghijklmnop"

const setup = Effect.gen(function*() {
  const prefix = yield* testPrefix("t-links")
  const databaseUrl = yield* testDatabase
  const env = gatewayEnv({ prefix, databaseUrl, extra: { INTERNAL_API_TOKEN: internalToken, BOT_USERNAME: "casino_bot" } })
  const { url } = yield* startGateway({ env })
  const services = yield* Layer.build(DeepLinks.layer.pipe(
    Layer.provideMerge(Postgres.layerUrl(Redacted.make(databaseUrl))),
    Layer.provide(config(env))
  ))
  const links = <A, E>(use: (links: DeepLinks["Service"], sql: SqlClient) => Effect.Effect<A, E>) =>
    Effect.provide(Effect.flatMap(Effect.all([DeepLinks, SqlClient]), ([l, s]) => use(l, s)), services)
  const create = (body: unknown, token = internalToken) =>
    Effect.promise(async () => {
      const response = await fetch(`${url}/v1/internal/deep-links`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(body)
      })
      return { status: response.status, body: await response.json() as Record<string, unknown> }
    })
  return { url, links, create }
})

let arrivals = 0
/** A new arrival (an update or a sign-in) each time. */
const arrival = () => `arrival-${++arrivals}`

const campaign = { action: "campaign", params: { affiliate_id: "aff-1", campaign_id: "winter", click_id: "c-9" } }

describe("deep links", () => {
  it.live("the platform's API makes t.me links with URL-safe, unguessable tokens; bad requests are 400, no token 401", () =>
    Effect.gen(function*() {
      const { create } = yield* setup
      const first = yield* create(campaign)
      assert.strictEqual(first.status, 201)
      const token = first.body["token"] as string
      assert.match(token, /^[A-Za-z0-9_-]{32,64}$/)
      assert.strictEqual(first.body["start_url"], `https://t.me/casino_bot?start=${token}`)
      assert.strictEqual(first.body["startapp_url"], `https://t.me/casino_bot/app?startapp=${token}`)
      assert.isTrue(Date.parse(first.body["expires_at"] as string) > Date.now() + 29 * 86_400_000)
      // The same request again: another token (nothing in it is derived from the action or its parameters).
      assert.notStrictEqual((yield* create(campaign)).body["token"], token)
      const link = yield* create({ action: "link_account", platform_user_id: "demo-1" })
      assert.strictEqual(link.status, 201)
      assert.isTrue(Date.parse(link.body["expires_at"] as string) <= Date.now() + 601_000)

      const refused: ReadonlyArray<readonly [string, unknown]> = [
        ["unknown action", { action: "payout" }],
        ["link_account without a user", { action: "link_account" }],
        ["link_account for an hour and a day", { action: "link_account", platform_user_id: "u", ttl_s: 90_000 }],
        ["campaign without its ids", { action: "campaign", params: { affiliate_id: "a" } }],
        ["an id with spaces", { ...campaign, params: { ...campaign.params, click_id: "a b" } }],
        ["an unknown field", { ...campaign, extra: 1 }],
        ["params on an action that takes none", { action: "link_account", platform_user_id: "u", params: { x: 1 } }]
      ]
      for (const [label, body] of refused) {
        const response = yield* create(body)
        assert.strictEqual(response.status, 400, label)
        assert.strictEqual((response.body["error"] as { code: string }).code, "invalid_request", label)
      }
      assert.strictEqual((yield* create(campaign, "wrong-token-0123456789abcdefghijklmnop")).status, 401)
    }))

  it.live("50 chats present one token at once: exactly one wins, the others are told it was used", () =>
    Effect.gen(function*() {
      const { create, links } = yield* setup
      const token = (yield* create(campaign)).body["token"] as string
      const results = yield* links((l) =>
        Effect.all(Array.from({ length: 50 }, (_, i) => l.resolve(token, 1000 + i, arrival())), { concurrency: "unbounded" })
      )
      assert.strictEqual(results.filter((r) => r.result === "ok").length, 1)
      assert.strictEqual(results.filter((r) => r.result === "reused").length, 49)
      const winner = results.find((r) => r.result === "ok")
      assert.deepStrictEqual(winner, {
        result: "ok",
        link: { action: "campaign", params: campaign.params, platformUserId: null }
      })
    }))

  it.live("an arrival handled again gets its first answer and uses nothing more", () =>
    Effect.gen(function*() {
      const { create, links } = yield* setup
      const token = (yield* create({ ...campaign, max_uses: 2 })).body["token"] as string
      const results = yield* links((l) =>
        Effect.gen(function*() {
          const first = yield* l.resolve(token, 7, "update-1")
          const again = yield* l.resolve(token, 7, "update-1")
          const bothAtOnce = yield* Effect.all([l.resolve(token, 8, "update-2"), l.resolve(token, 8, "update-2")], { concurrency: 2 })
          const third = yield* l.resolve(token, 9, "update-3")
          return [first.result, again.result, ...bothAtOnce.map((r) => r.result), third.result]
        })
      )
      assert.deepStrictEqual(results, ["ok", "ok", "ok", "ok", "reused"])
    }))

  it.live("reused, expired, bound to someone else and unknown tokens are told apart", () =>
    Effect.gen(function*() {
      const { create, links } = yield* setup
      const once = (yield* create(campaign)).body["token"] as string
      const bound = (yield* create({ ...campaign, telegram_user_id: 42 })).body["token"] as string
      const old = (yield* create(campaign)).body["token"] as string
      const twice = (yield* create({ ...campaign, max_uses: 2 })).body["token"] as string
      const results = yield* links((l, sql) =>
        Effect.gen(function*() {
          yield* sql`UPDATE deep_links SET expires_at = now() - interval '1 second'
                     WHERE created_at = (SELECT max(created_at) FROM deep_links WHERE max_uses = 1 AND bound_telegram_user_id IS NULL)`
          return [
            (yield* l.resolve(once, 7, arrival())).result,
            (yield* l.resolve(once, 7, arrival())).result,
            (yield* l.resolve(bound, 8, arrival())).result,
            (yield* l.resolve(bound, 42, arrival())).result,
            (yield* l.resolve(old, 7, arrival())).result,
            (yield* l.resolve(twice, 7, arrival())).result,
            (yield* l.resolve(twice, 9, arrival())).result,
            (yield* l.resolve(twice, 10, arrival())).result,
            (yield* l.resolve("A".repeat(32), 7, arrival())).result,
            (yield* l.resolve("not a token!", 7, arrival())).result,
            (yield* l.resolve("A".repeat(65), 7, arrival())).result
          ]
        })
      )
      assert.deepStrictEqual(results, [
        "ok", "reused", "not_yours", "ok", "expired", "ok", "ok", "reused", "invalid", "invalid", "invalid"
      ])
    }))
})
