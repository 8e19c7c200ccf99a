/**
 * The sign-in API over real HTTP, on the real Postgres and Redis: a valid initData or Login Widget sign-in gets
 * a JWT that verifies against the published JWKS alone; every tampered, stale, future, duplicated or truncated
 * input gets 401 with its code and creates nothing; forged tokens (`alg: none`, HS256 keyed with the public
 * key) are refused by `/v1/tg/me`; a reused refresh token revokes its family; consents are read and changed;
 * unlinking stops the account's notifications at once and ends its sessions; the per-address limit answers 429
 * with `Retry-After`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Jose from "jose"
import * as Crypto from "node:crypto"
import * as Postgres from "../../layers/Postgres.ts"
import { DeepLinks, type NewDeepLink } from "../../services/DeepLinks.ts"
import { Identity } from "../../services/Identity.ts"
import { seed } from "../../services/platform/Seed.ts"
import { config, gatewayEnv, redisClient, testDatabase, testPrefix } from "../support/Infra.ts"
import { startGateway } from "../support/Gateway.ts"
import { clientOf } from "../../src/http/AuthLimits.ts"
import { initDataFor, signInitData, signLoginWidget } from "../support/TelegramSigning.ts"

const botToken = "123456:TEST-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
const now = () => Math.floor(Date.now() / 1000)

const setup = (extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const prefix = yield* testPrefix("t-auth")
    const databaseUrl = yield* testDatabase
    const env = gatewayEnv({
      prefix,
      databaseUrl,
      extra: {
        JWT_KEY_ENCRYPTION_KEY: Crypto.randomBytes(32).toString("base64"),
        GATEWAY_EVENTS_STREAM: `${prefix}gateway:events`,
        ...extra
      }
    })
    const { url } = yield* startGateway({ env })
    // The test's own view of the database, as the notification path and the operator's tools have it.
    const services = yield* Layer.build(Layer.merge(Identity.layer, DeepLinks.layer).pipe(
      Layer.provideMerge(Postgres.layerUrl(Redacted.make(databaseUrl))),
      Layer.provide(config(env))
    ))
    const identity = <A, E>(use: (identity: Identity["Service"]) => Effect.Effect<A, E>) =>
      Effect.provide(Effect.flatMap(Identity, use), services)
    const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      Effect.promise(async () => {
        const response = await fetch(`${url}${path}`, {
          method,
          headers: { "content-type": "application/json", ...headers },
          ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
        })
        const text = await response.text()
        return { status: response.status, headers: response.headers, body: text === "" ? null : JSON.parse(text) }
      })
    const count = (table: string) =>
      Effect.provide(
        Effect.flatMap(SqlClient, (sql) => sql<{ n: string }>`SELECT count(*) AS n FROM ${sql(table)}`),
        services
      ).pipe(Effect.map((rows) => Number(rows[0]!.n)))
    const sql = <A, E>(effect: Effect.Effect<A, E, SqlClient>) => Effect.provide(effect, services)
    const redis = yield* redisClient()
    const events = Effect.promise(async () =>
      (await redis.xrange(`${prefix}gateway:events`, "-", "+")).map(([, fields]) =>
        JSON.parse(fields[fields.indexOf("event") + 1]!) as Record<string, unknown>
      )
    )
    const newLink = (link: NewDeepLink) =>
      Effect.provide(Effect.flatMap(DeepLinks, (l) => Effect.map(l.create(link), (c) => c.token)), services)
    return { url, call, count, identity, sql, events, newLink }
  })

type Call = Effect.Success<ReturnType<typeof setup>>["call"]

const exchange = (call: Call, initData: string) => call("POST", "/v1/tg/exchange", { init_data: initData })
const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` })
const codeOf = (response: { readonly body: unknown }) => (response.body as { error: { code: string } }).error.code

describe("sign-in API", () => {
  it.live("valid initData: 200 with a JWT that verifies against the JWKS alone; the first sign-in creates the profile", () =>
    Effect.gen(function*() {
      const { url, call, count, sql } = yield* setup()
      const response = yield* exchange(call, initDataFor({ id: 5001, first_name: "Ann", language_code: "it" }, botToken, now(), {
        chat_type: "sender"
      }))
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("cache-control"), "no-store")
      const body = response.body as { jwt: string; expires_in: number; refresh_token: string; user: Record<string, unknown> }
      assert.deepStrictEqual(body.user, { telegram_user_id: 5001, platform_user_id: null, linked: false })
      assert.match(body.refresh_token, /^rt_[A-Za-z0-9_-]{43}$/)
      const jwks = Jose.createRemoteJWKSet(new URL(`${url}/.well-known/jwks.json`))
      const { payload } = yield* Effect.promise(() =>
        Jose.jwtVerify(body.jwt, jwks, { issuer: "tg-gateway", audience: "platform", algorithms: ["EdDSA"] })
      )
      assert.strictEqual(payload.sub, "tg:5001")
      assert.strictEqual(payload.tg_uid, 5001)
      assert.strictEqual(payload.exp! - payload.iat!, body.expires_in)
      assert.strictEqual(yield* count("identities"), 1)
      assert.strictEqual(yield* count("identity_audit"), 1)
      // A second sign-in updates the same profile; only a change is audited, and the audit names no values.
      const again = yield* exchange(call, initDataFor({ id: 5001, first_name: "Ann" }, botToken, now()))
      assert.strictEqual(again.status, 200)
      assert.strictEqual(yield* count("identities"), 1)
      assert.strictEqual(yield* count("session_families"), 2)
      assert.strictEqual(yield* count("identity_audit"), 1)
      const renamed = yield* exchange(call, initDataFor({ id: 5001, first_name: "Ann", username: "ann_new" }, botToken, now()))
      assert.strictEqual(renamed.status, 200)
      const audit = yield* sql(Effect.flatMap(SqlClient, (q) => q<{ action: string; detail: unknown }>`
        SELECT action, detail FROM identity_audit ORDER BY id`))
      assert.deepStrictEqual(audit.map((a) => [a.action, a.detail]), [["created", {}], ["profile_changed", { fields: ["username"] }]])
    }))

  it.live("tampered, unsigned, foreign, stale, future, duplicated and truncated initData: 401 with its code, nothing created", () =>
    Effect.gen(function*() {
      const { call, count } = yield* setup()
      const user = { id: 6001, first_name: "Bob" }
      const valid = initDataFor(user, botToken, now())
      const params = new URLSearchParams(valid)
      const withField = (name: string, value: string) => {
        const p = new URLSearchParams(valid)
        p.set(name, value)
        return p.toString()
      }
      const cases: ReadonlyArray<readonly [string, string, ReadonlyArray<string>]> = [
        ["tampered user", withField("user", JSON.stringify({ ...user, id: 6002 })), ["invalid_signature"]],
        ["tampered auth_date", withField("auth_date", String(now() - 1)), ["invalid_signature"]],
        ["tampered query_id", withField("query_id", "AAHdF6IQAAAAAN0XohDhrOrX"), ["invalid_signature"]],
        ["tampered hash", withField("hash", "0".repeat(64)), ["invalid_signature"]],
        ["missing hash", (() => { const p = new URLSearchParams(valid); p.delete("hash"); return p.toString() })(), ["missing_hash"]],
        ["another bot's token", initDataFor(user, "654321:OTHER-token-bbbbbbbbbbbbbbbbbbbbbbbbb", now()), ["invalid_signature"]],
        ["auth_date an hour old", initDataFor(user, botToken, now() - 3600), ["expired"]],
        ["auth_date an hour ahead", initDataFor(user, botToken, now() + 3600), ["from_future"]],
        ["duplicated key", `${valid}&auth_date=${params.get("auth_date")}`, ["duplicate_key"]],
        ["truncated", valid.slice(0, valid.length - 20), ["invalid_signature", "malformed"]],
        ["not initData at all", "hello", ["missing_hash", "malformed"]],
        ["signed without a user", signInitData({ auth_date: String(now()), query_id: "x" }, botToken), ["malformed"]]
      ]
      for (const [label, initData, codes] of cases) {
        const response = yield* exchange(call, initData)
        assert.strictEqual(response.status, 401, label)
        assert.include(codes, codeOf(response), label)
      }
      const bad = yield* call("POST", "/v1/tg/exchange", "{not json")
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(codeOf(bad), "invalid_json")
      const wrongShape = yield* call("POST", "/v1/tg/exchange", { initData: valid })
      assert.strictEqual(wrongShape.status, 400)
      assert.strictEqual(codeOf(wrongShape), "invalid_request")
      assert.strictEqual(yield* count("identities"), 0)
      assert.strictEqual(yield* count("session_families"), 0)
    }))

  it.live("Login Widget: a signed callback signs in; tampered or stale ones get 401 and create nothing", () =>
    Effect.gen(function*() {
      const { call, count } = yield* setup()
      const fields = { id: 7001, first_name: "Cleo", username: "cleo", auth_date: now() }
      const ok = yield* call("POST", "/v1/tg/login-widget", signLoginWidget(fields, botToken))
      assert.strictEqual(ok.status, 200)
      assert.deepStrictEqual((ok.body as { user: unknown }).user, { telegram_user_id: 7001, platform_user_id: null, linked: false })
      const tampered = yield* call("POST", "/v1/tg/login-widget", { ...signLoginWidget(fields, botToken), id: 7002 })
      assert.strictEqual(tampered.status, 401)
      assert.strictEqual(codeOf(tampered), "invalid_signature")
      const stale = yield* call("POST", "/v1/tg/login-widget", signLoginWidget({ ...fields, id: 7003, auth_date: now() - 3600 }, botToken))
      assert.strictEqual(codeOf(stale), "expired")
      const unsigned = yield* call("POST", "/v1/tg/login-widget", { ...fields, id: 7004 })
      assert.strictEqual(codeOf(unsigned), "missing_hash")
      const foreign = yield* call("POST", "/v1/tg/login-widget",
        signLoginWidget({ ...fields, id: 7005 }, "654321:OTHER-token-bbbbbbbbbbbbbbbbbbbbbbbbb"))
      assert.strictEqual(codeOf(foreign), "invalid_signature")
      const future = yield* call("POST", "/v1/tg/login-widget", signLoginWidget({ ...fields, id: 7006, auth_date: now() + 3600 }, botToken))
      assert.strictEqual(codeOf(future), "from_future")
      const notJson = yield* call("POST", "/v1/tg/login-widget", "id=7007")
      assert.strictEqual(notJson.status, 400)
      assert.strictEqual(yield* count("identities"), 1)
      assert.strictEqual(yield* count("session_families"), 1)
    }))

  it.live("/v1/tg/me refuses missing, alg-none and HS256-with-the-public-key tokens, and answers a valid one", () =>
    Effect.gen(function*() {
      const { call } = yield* setup()
      const signedIn = yield* exchange(call, initDataFor({ id: 8001, first_name: "Dan" }, botToken, now()))
      const jwt = (signedIn.body as { jwt: string }).jwt
      const jwks = (yield* call("GET", "/.well-known/jwks.json")).body as { keys: Array<Jose.JWK> }
      const publicJwk = jwks.keys[0]!
      const [, payload] = jwt.split(".") as [string, string, string]
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Jose.JWTPayload
      const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
      const hs256 = yield* Effect.promise(() =>
        new Jose.SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: publicJwk.kid! })
          .sign(Buffer.from(publicJwk.x!, "base64url"))
      )
      const forged: ReadonlyArray<readonly [string, Record<string, string>]> = [
        ["no token", {}],
        ["not a bearer", { authorization: `Basic ${jwt}` }],
        ["alg none", bearer(`${b64({ alg: "none", kid: publicJwk.kid })}.${payload}.`)],
        ["HS256 keyed with the public key", bearer(hs256)],
        ["signature cut", bearer(jwt.slice(0, jwt.lastIndexOf(".") + 1))]
      ]
      for (const [label, headers] of forged) {
        const response = yield* call("GET", "/v1/tg/me", undefined, headers)
        assert.strictEqual(response.status, 401, label)
        assert.strictEqual(codeOf(response), "token_invalid", label)
      }
      const me = yield* call("GET", "/v1/tg/me", undefined, bearer(jwt))
      assert.strictEqual(me.status, 200)
      assert.deepInclude(me.body as object, { user_id: null, telegram_user_id: 8001, linked: false, balances: [] })
      assert.deepStrictEqual((me.body as { kyc: unknown }).kyc, { level: 0, status: "none" })
      // The scheme is case-insensitive.
      assert.strictEqual((yield* call("GET", "/v1/tg/me", undefined, { authorization: `bearer ${jwt}` })).status, 200)
    }))

  it.live("/v1/tg/me of a linked account: balances, KYC and limits from the platform; an unknown account is 404", () =>
    Effect.gen(function*() {
      const { call, identity, sql } = yield* setup()
      yield* sql(seed)
      const jwtOf = (id: number) =>
        exchange(call, initDataFor({ id, first_name: "Ivo" }, botToken, now())).pipe(
          Effect.map((r) => (r.body as { jwt: string }).jwt)
        )
      yield* identity((i) => i.link({ telegramUserId: 9401, platformUserId: "demo-1", chatId: 9401 }, "platform"))
      // The link is read at each request: a token issued before the link already shows the platform's data.
      const me = yield* call("GET", "/v1/tg/me", undefined, bearer(yield* jwtOf(9401)))
      assert.strictEqual(me.status, 200)
      const body = me.body as { user_id: string; linked: boolean; balances: Array<unknown>; kyc: unknown; limits: object }
      assert.strictEqual(body.user_id, "demo-1")
      assert.isTrue(body.linked)
      assert.deepStrictEqual(body.balances, [{ currency: "EUR", amount: "125.50" }])
      assert.deepStrictEqual(body.kyc, { level: 2, status: "verified" })
      assert.deepStrictEqual(body.limits, {
        deposit_daily: { currency: "EUR", amount: "100.00" },
        deposit_weekly: { currency: "EUR", amount: "500.00" },
        deposit_monthly: { currency: "EUR", amount: "1500.00" },
        loss_daily: { currency: "EUR", amount: "50.00" },
        session_minutes: 120,
        reality_check_minutes: 60,
        self_excluded_until: null
      })
      // A Telegram account linked to one platform user is refused another one until it is unlinked.
      const taken = yield* Effect.flip(
        identity((i) => i.link({ telegramUserId: 9401, platformUserId: "demo-2", chatId: undefined }, "platform"))
      )
      assert.strictEqual(taken._tag, "AlreadyLinked")
      yield* identity((i) => i.link({ telegramUserId: 9402, platformUserId: "nobody", chatId: undefined }, "platform"))
      const unknown = yield* call("GET", "/v1/tg/me", undefined, bearer(yield* jwtOf(9402)))
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(codeOf(unknown), "user_not_found")
    }))

  it.live("refresh rotates the token; presenting a used one answers refresh_reused and revokes the family", () =>
    Effect.gen(function*() {
      const { call, sql } = yield* setup()
      const first = (yield* exchange(call, initDataFor({ id: 9001, first_name: "Eve" }, botToken, now()))).body as {
        refresh_token: string
      }
      const second = yield* call("POST", "/v1/tg/refresh", { refresh_token: first.refresh_token })
      assert.strictEqual(second.status, 200)
      const rotated = (second.body as { refresh_token: string; jwt: string; user: { telegram_user_id: number } })
      assert.notStrictEqual(rotated.refresh_token, first.refresh_token)
      assert.strictEqual(rotated.user.telegram_user_id, 9001)
      const reused = yield* call("POST", "/v1/tg/refresh", { refresh_token: first.refresh_token })
      assert.strictEqual(reused.status, 401)
      assert.strictEqual(codeOf(reused), "refresh_reused")
      // The family is gone: the token handed out by the rotation no longer works either.
      const afterRevocation = yield* call("POST", "/v1/tg/refresh", { refresh_token: rotated.refresh_token })
      assert.strictEqual(afterRevocation.status, 401)
      assert.strictEqual(codeOf(afterRevocation), "session_revoked")
      // Ten concurrent uses of one token: exactly one rotates it; the others are reuse (or meet the revoked family).
      const raced = (yield* exchange(call, initDataFor({ id: 9002, first_name: "Eli" }, botToken, now()))).body as {
        refresh_token: string
      }
      const answers = yield* Effect.all(
        Array.from({ length: 10 }, () => call("POST", "/v1/tg/refresh", { refresh_token: raced.refresh_token })),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(answers.filter((a) => a.status === 200).length, 1)
      assert.isTrue(answers.every((a) => a.status === 200 || ["refresh_reused", "session_revoked"].includes(codeOf(a))))
      // An expired token is refused as such (and its family stays usable through other tokens).
      const fresh = (yield* exchange(call, initDataFor({ id: 9003, first_name: "Ezra" }, botToken, now()))).body as {
        refresh_token: string
      }
      yield* sql(Effect.flatMap(SqlClient, (q) => q`UPDATE refresh_tokens SET expires_at = now() - interval '1 second'
        WHERE used_at IS NULL AND family_id IN (SELECT family_id FROM session_families WHERE telegram_user_id = 9003)`))
      const expired = yield* call("POST", "/v1/tg/refresh", { refresh_token: fresh.refresh_token })
      assert.strictEqual(codeOf(expired), "refresh_expired")
      const unknown = yield* call("POST", "/v1/tg/refresh", { refresh_token: `rt_${"A".repeat(43)}` })
      assert.strictEqual(codeOf(unknown), "refresh_invalid")
      const garbage = yield* call("POST", "/v1/tg/refresh", { refresh_token: "'; DROP TABLE refresh_tokens; --" })
      assert.strictEqual(codeOf(garbage), "refresh_invalid")
    }))

  it.live("consents: read, changed one at a time, unknown names refused", () =>
    Effect.gen(function*() {
      const { call, count } = yield* setup()
      const jwt = ((yield* exchange(call, initDataFor({ id: 9101, first_name: "Fay" }, botToken, now()))).body as {
        jwt: string
      }).jwt
      const initial = yield* call("GET", "/v1/tg/consents", undefined, bearer(jwt))
      assert.deepStrictEqual(initial.body, { promotions: false, tournaments: false, payouts: true })
      const changed = yield* call("POST", "/v1/tg/consents", { promotions: true }, bearer(jwt))
      assert.deepStrictEqual(changed.body, { promotions: true, tournaments: false, payouts: true })
      const unknown = yield* call("POST", "/v1/tg/consents", { marketing: true }, bearer(jwt))
      assert.strictEqual(unknown.status, 400)
      assert.strictEqual(codeOf(unknown), "invalid_request")
      const wrongType = yield* call("POST", "/v1/tg/consents", { payouts: "no" }, bearer(jwt))
      assert.strictEqual(wrongType.status, 400)
      assert.deepStrictEqual((yield* call("GET", "/v1/tg/consents", undefined, bearer(jwt))).body, changed.body)
      assert.strictEqual(yield* count("identity_audit"), 2)
    }))

  it.live("unlink: the notification path sees it on its next read, sessions end, /me shows no platform data", () =>
    Effect.gen(function*() {
      const { call, identity, events } = yield* setup()
      const signedIn = (yield* exchange(call, initDataFor({ id: 9201, first_name: "Gus" }, botToken, now(), {
        chat_type: "sender"
      }))).body as { jwt: string; refresh_token: string }
      const recipients = identity((i) => i.recipients("player-9201", "payouts"))
      yield* identity((i) => i.link({ telegramUserId: 9201, platformUserId: "player-9201", chatId: undefined }, "platform"))
      assert.deepStrictEqual(yield* recipients, [{ telegramUserId: 9201, chatId: 9201, languageCode: null }])
      const unlinked = yield* call("DELETE", "/v1/tg/link", undefined, bearer(signedIn.jwt))
      assert.strictEqual(unlinked.status, 200)
      assert.deepStrictEqual(unlinked.body, { unlinked: true, sessions_revoked: 1 })
      assert.deepStrictEqual(yield* recipients, [])
      assert.deepStrictEqual((yield* events).map((e) => [e["type"], e["telegram_user_id"], e["platform_user_id"]]), [
        ["telegram_unlinked", 9201, "player-9201"]
      ])
      const refresh = yield* call("POST", "/v1/tg/refresh", { refresh_token: signedIn.refresh_token })
      assert.strictEqual(codeOf(refresh), "session_revoked")
      const me = yield* call("GET", "/v1/tg/me", undefined, bearer(signedIn.jwt))
      assert.deepInclude(me.body as object, { user_id: null, linked: false })
      const again = yield* call("DELETE", "/v1/tg/link", undefined, bearer(signedIn.jwt))
      assert.deepStrictEqual(again.body, { unlinked: false, sessions_revoked: 0 })
    }))

  it.live("a deep link opened in the Mini App: start_param resolves once per player (a reload changes nothing), link_account is confirmed by the app", () =>
    Effect.gen(function*() {
      const { call, newLink, identity } = yield* setup()
      const campaign = yield* newLink({ action: "campaign", params: { affiliate_id: "a-1", campaign_id: "c-1" } })
      const open = (id: number, startParam: string) =>
        exchange(call, initDataFor({ id, first_name: "Kai" }, botToken, now(), { start_param: startParam }))
      const first = yield* open(9601, campaign)
      assert.deepStrictEqual((first.body as { start: unknown }).start, { result: "ok", action: "campaign", landing: null })
      const reload = yield* open(9601, campaign)
      assert.deepStrictEqual((reload.body as { start: unknown }).start, { result: "ok", action: "campaign", landing: null })
      const other = yield* open(9602, campaign)
      assert.deepStrictEqual((other.body as { start: unknown }).start, { result: "reused" })

      const link = yield* newLink({ action: "link_account", platform_user_id: "player-9603" })
      const signedIn = yield* open(9603, link)
      const body = signedIn.body as { jwt: string; start: { action: string } }
      assert.strictEqual(body.start.action, "link_account")
      assert.strictEqual((yield* identity((i) => i.get(9603)))?.platformUserId, null, "nothing linked before the player confirms")
      const confirmed = yield* call("POST", "/v1/tg/link/confirm", { start_param: link }, bearer(body.jwt))
      assert.deepStrictEqual(confirmed.body, { linked: true })
      assert.strictEqual((yield* identity((i) => i.get(9603)))?.platformUserId, "player-9603")
      const notALink = yield* call("POST", "/v1/tg/link/confirm", { start_param: campaign }, bearer(body.jwt))
      assert.strictEqual(notALink.status, 409)
    }))

  it.live("the per-user limit answers 429 once one Telegram user signs in too often, others still pass", () =>
    Effect.gen(function*() {
      const { call } = yield* setup({ AUTH_RATE_PER_MIN_USER: "2" })
      const statuses: Array<number> = []
      for (let i = 0; i < 3; i++) statuses.push((yield* exchange(call, initDataFor({ id: 9501, first_name: "Ida" }, botToken, now()))).status)
      assert.deepStrictEqual(statuses, [200, 200, 429])
      assert.strictEqual((yield* exchange(call, initDataFor({ id: 9502, first_name: "Jo" }, botToken, now()))).status, 200)
    }))

  it.live("behind a trusted proxy the limit counts the address it forwarded; a forged X-Forwarded-For is ignored", () =>
    Effect.gen(function*() {
      const trusted = yield* setup({ AUTH_RATE_PER_MIN_IP: "2", TRUSTED_PROXIES: "127.0.0.1/32" })
      const from = (address: string) => trusted.call("POST", "/v1/tg/refresh", { refresh_token: "x" }, { "x-forwarded-for": `6.6.6.6, ${address}` })
      const a = [yield* from("198.51.100.7"), yield* from("198.51.100.7"), yield* from("198.51.100.7")].map((r) => r.status)
      assert.deepStrictEqual(a, [401, 401, 429])
      assert.strictEqual((yield* from("198.51.100.8")).status, 401)

      const untrusted = yield* setup({ AUTH_RATE_PER_MIN_IP: "2" })
      const forged = (address: string) => untrusted.call("POST", "/v1/tg/refresh", { refresh_token: "x" }, { "x-forwarded-for": address })
      const b = [yield* forged("203.0.113.1"), yield* forged("203.0.113.2"), yield* forged("203.0.113.3")].map((r) => r.status)
      assert.deepStrictEqual(b, [401, 401, 429])
    }))

  it.live("oversized bodies get 413 and unknown routes a JSON 404", () =>
    Effect.gen(function*() {
      const { call } = yield* setup()
      const big = yield* call("POST", "/v1/tg/exchange", { init_data: "x".repeat(100_000) })
      assert.strictEqual(big.status, 413)
      assert.strictEqual(codeOf(big), "body_too_large")
      for (const [method, path] of [["GET", "/v1/tg/exchange"], ["PUT", "/v1/tg/consents"], ["GET", "/v1/nothing"]] as const) {
        const response = yield* call(method, path)
        assert.strictEqual(response.status, 404, `${method} ${path}`)
        assert.strictEqual(codeOf(response), "not_found")
      }
    }))

  it("an IPv6 client is counted by its /64, IPv4 (also mapped) by its address", () => {
    assert.strictEqual(clientOf("2001:db8:1:2:aaaa::1"), clientOf("2001:db8:1:2:ffff:ffff:ffff:ffff"))
    assert.notStrictEqual(clientOf("2001:db8:1:2::1"), clientOf("2001:db8:1:3::1"))
    assert.strictEqual(clientOf("::ffff:198.51.100.7"), "198.51.100.7")
    assert.strictEqual(clientOf("198.51.100.7"), "198.51.100.7")
    assert.strictEqual(clientOf(""), "unknown")
  })

  it.live("the per-address limit answers 429 with Retry-After before checking anything", () =>
    Effect.gen(function*() {
      const { call } = yield* setup({ AUTH_RATE_PER_MIN_IP: "3" })
      const statuses: Array<number> = []
      for (let i = 0; i < 4; i++) statuses.push((yield* exchange(call, "garbage")).status)
      assert.deepStrictEqual(statuses, [401, 401, 401, 429])
      const limited = yield* exchange(call, initDataFor({ id: 9301, first_name: "Hal" }, botToken, now()))
      assert.strictEqual(limited.status, 429)
      assert.strictEqual(codeOf(limited), "rate_limited")
      const retryAfter = Number(limited.headers.get("retry-after"))
      assert.isTrue(retryAfter >= 1 && retryAfter <= 60, String(retryAfter))
    }))
})
