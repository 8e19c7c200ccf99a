/**
 * The sign-in routes of the contract: `POST /v1/tg/exchange` (Mini App initData), `POST /v1/tg/login-widget`,
 * `POST /v1/tg/refresh`, `GET /v1/tg/me`, `GET`/`POST /v1/tg/consents`, `DELETE /v1/tg/link` and
 * `GET /.well-known/jwks.json`.
 *
 * A sign-in checks Telegram's signature, creates or updates the identity (the first one creates the simplified,
 * unlinked profile), starts a session and answers a short JWT with a refresh token. Routes that take Telegram
 * data or tokens are rate-limited per client address before any work, and per Telegram user once it is known
 * (429 with `Retry-After`): `me` and `consents` by the Mini App data routes' budgets, the others by the sign-in's. Every answer is counted in `tg_api_responses_total{route,code_class}`.
 */
import { ByteSize, Effect } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { SqlClient } from "effect/sql/SqlClient"
import type { InitData } from "../domain/TelegramAuth.ts"
import { type Arrival, Arrivals } from "../../services/Arrivals.ts"
import { GatewayEvents } from "../../services/GatewayEvents.ts"
import * as Crypto from "node:crypto"
import { AlreadyLinked, Identity, type IdentityRecord } from "../../services/Identity.ts"
import { InitDataVerifier } from "../../services/InitDataVerifier.ts"
import { LoginWidgetVerifier } from "../../services/LoginWidgetVerifier.ts"
import { type Limits, Platform } from "../../services/Platform.ts"
import { SessionError, Sessions } from "../../services/Sessions.ts"
import { type Issued, TokenIssuer } from "../../services/TokenIssuer.ts"
import {
  apiRoute,
  ConfirmLinkBody,
  ConsentsBody,
  ExchangeBody,
  noStore,
  NoUser,
  RefreshBody,
  strict,
  Unauthenticated
} from "./AuthApi.ts"
import { AuthLimits } from "./AuthLimits.ts"
import { authenticator } from "./Bearer.ts"

export const layer = HttpRouter.use((router) =>
  Effect.gen(function*() {
    const initData = yield* InitDataVerifier
    const loginWidget = yield* LoginWidgetVerifier
    const tokens = yield* TokenIssuer
    const sessions = yield* Sessions
    const identity = yield* Identity
    const platform = yield* Platform
    const limits = yield* AuthLimits
    const sql = yield* SqlClient
    const events = yield* GatewayEvents
    const arrivals = yield* Arrivals

    // Bodies here are a few KiB at most (initData is capped at 8 KiB).
    const route = <E, R>(name: string, handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
      apiRoute(name, maxBodySize, handler)

    const json = (status: number, body: unknown, headers: Record<string, string> = noStore) =>
      HttpServerResponse.jsonUnsafe(body, { status, headers })

    const issueFor = (record: IdentityRecord) =>
      tokens.issue({ sub: record.platformUserId ?? `tg:${record.telegramUserId}`, tgUid: record.telegramUserId })

    /** The answer of exchange, login-widget and refresh alike (exchange adds what its `start_param` came to). */
    const signedIn = (
      record: IdentityRecord,
      issued: Issued,
      refresh: { readonly refreshToken: string },
      extra: Readonly<Record<string, unknown>> = {}
    ) =>
      json(200, {
          ...extra,
          jwt: issued.jwt,
          token_type: "Bearer",
          expires_in: issued.expiresIn,
          refresh_token: refresh.refreshToken,
          user: {
            telegram_user_id: record.telegramUserId,
            platform_user_id: record.platformUserId,
            linked: record.platformUserId !== null
          }
        })

    const signIn = (user: {
      readonly id: number
      readonly username?: string | undefined
      readonly language_code?: string | undefined
    }, chatId: number | undefined, method: "initdata" | "login_widget", startParam?: string) =>
      Effect.gen(function*() {
        yield* limits.user(user.id)
        // Independent writes, side by side: a sign-in waits for one database round trip, not two.
        const [record, session] = yield* Effect.all([
          identity.signIn({ telegramUserId: user.id, username: user.username, languageCode: user.language_code, chatId }, "user"),
          sessions.start(user.id, method)
        ], { concurrency: 2 })
        const extra = startParam === undefined
          ? {}
          : { start: startJson(yield* arrivals.arrive(startParam, startArrival(user.id, chatId, startParam))) }
        return signedIn(record, yield* issueFor(record), session, extra)
      })

    /** The claims of the request's bearer token, within the address's and then the user's sign-in limits. */
    const authenticated = authenticator(limits, tokens)
    /** The same, within the Mini App data routes' roomier limits (`me`, `consents`). */
    const appAuthenticated = authenticator(limits.app, tokens)

    yield* router.add("POST", "/v1/tg/exchange", route("exchange", Effect.gen(function*() {
      yield* limits.address
      const body = yield* HttpServerRequest.schemaBodyJson(ExchangeBody, strict)
      const data = yield* initData.verify(body.init_data)
      if (data.user === undefined) return yield* new NoUser()
      return yield* signIn(data.user, privateChatOf(data), "initdata", data.startParam)
    })))

    // A `link_account` link opened in the Mini App: exchange resolved it (`start.action`), the app asked the player,
    // and the player confirmed. The same arrival resolves the same way again, so nothing more is used.
    yield* router.add("POST", "/v1/tg/link/confirm", route("link_confirm", Effect.gen(function*() {
      const claims = yield* authenticated
      const body = yield* HttpServerRequest.schemaBodyJson(ConfirmLinkBody, strict)
      const arrival = startArrival(claims.tgUid, undefined, body.start_param)
      const arrived = yield* arrivals.arrive(body.start_param, arrival)
      if (arrived.kind !== "link_account") {
        return json(409, { error: { code: "not_a_link", message: "this start parameter does not link an account" } })
      }
      const outcome = yield* arrivals.confirmLink({ ...arrival, eventId: `${arrival.eventId}:linked` }, arrived.platformUserId)
      if (outcome === "already_linked") return yield* new AlreadyLinked({ telegramUserId: claims.tgUid })
      return json(200, { linked: true })
    })))

    yield* router.add("POST", "/v1/tg/login-widget", route("login_widget", Effect.gen(function*() {
      yield* limits.address
      const request = yield* HttpServerRequest.HttpServerRequest
      const data = yield* loginWidget.verify(yield* request.json)
      return yield* signIn({ id: data.id, username: data.username }, undefined, "login_widget")
    })))

    yield* router.add("POST", "/v1/tg/refresh", route("refresh", Effect.gen(function*() {
      yield* limits.address
      const body = yield* HttpServerRequest.schemaBodyJson(RefreshBody, strict)
      // The user's limit, the identity and the new access token come inside the rotation's transaction: if any
      // of them fails, the presented token stays unused and a retry with it is not taken for reuse.
      const refreshed = yield* sessions.refresh(body.refresh_token, (telegramUserId) =>
        Effect.gen(function*() {
          yield* limits.user(telegramUserId)
          const record = yield* identity.get(telegramUserId)
          if (record === undefined) return yield* new SessionError({ code: "refresh_invalid", message: "unknown user" })
          return { record, issued: yield* issueFor(record) }
        }))
      return signedIn(refreshed.answer.record, refreshed.answer.issued, refreshed)
    })))

    yield* router.add("GET", "/v1/tg/me", route("me", Effect.gen(function*() {
      const claims = yield* appAuthenticated
      // The link as it is now, not as the token says: an unlinked account shows no platform data at once.
      const record = yield* identity.get(claims.tgUid)
      const userId = record?.platformUserId ?? null
      if (userId === null) {
        return json(200, {
          user_id: null,
          telegram_user_id: claims.tgUid,
          linked: false,
          balances: [],
          kyc: { level: 0, status: "none" },
          limits: limitsJson(undefined)
        })
      }
      const [balances, kyc, rg] = yield* Effect.all(
        [platform.balances(userId), platform.kyc(userId), platform.limits(userId)],
        { concurrency: 3 }
      )
      return json(200, {
        user_id: userId,
        telegram_user_id: claims.tgUid,
        linked: true,
        balances: balances.map((b) => ({ currency: b.currency, amount: b.amount })),
        kyc: { level: kyc.level, status: kyc.status },
        limits: limitsJson(rg)
      })
    })))

    yield* router.add("GET", "/v1/tg/consents", route("consents", Effect.gen(function*() {
      const claims = yield* appAuthenticated
      const record = yield* identity.get(claims.tgUid)
      if (record === undefined) return yield* new Unauthenticated({ message: "unknown user" })
      return json(200, record.consents)
    })))

    yield* router.add("POST", "/v1/tg/consents", route("consents", Effect.gen(function*() {
      const claims = yield* appAuthenticated
      const changes = yield* HttpServerRequest.schemaBodyJson(ConsentsBody, strict)
      const consents = yield* identity.setConsents(claims.tgUid, changes, "user")
      if (consents === undefined) return yield* new Unauthenticated({ message: "unknown user" })
      return json(200, consents)
    })))

    yield* router.add("DELETE", "/v1/tg/link", route("link", Effect.gen(function*() {
      const claims = yield* authenticated
      // One transaction: the link goes, every session of the account with it, and the platform is told before
      // it commits (if Redis fails, nothing changed and the client retries; the event id, one per token, keeps
      // a retried request from publishing twice).
      const [previous, revoked] = yield* sql.withTransaction(Effect.gen(function*() {
        const unlinked = yield* identity.unlink(claims.tgUid, "user")
        if (unlinked === undefined) return [undefined, 0] as const
        yield* events.publish(`unlinked:${claims.jti}`, {
          type: "telegram_unlinked",
          telegram_user_id: claims.tgUid,
          platform_user_id: unlinked
        })
        return [unlinked, yield* sessions.revokeAll(claims.tgUid, "unlinked")] as const
      }))
      return json(200, { unlinked: previous !== undefined, sessions_revoked: revoked })
    })))

    yield* router.add("GET", "/.well-known/jwks.json", route("jwks", Effect.map(tokens.jwks, (jwks) =>
      json(200, jwks, { "cache-control": "public, max-age=300" }))))
  })
)

/** The private chat the bot can write to, when initData shows one: opened from the bot's chat, or allowed. */
const privateChatOf = (data: InitData): number | undefined =>
  data.user !== undefined && (data.chatType === "sender" || data.user.allows_write_to_pm === true)
    ? data.user.id
    : undefined

const maxBodySize = ByteSize.kilobytes(16)

/**
 * A Mini App arrival through `start_param`: one per user and token, so opening the app again with the same link
 * (a reload, a confirmation) resolves as the first time did.
 */
const startArrival = (telegramUserId: number, chatId: number | undefined, startParam: string) => ({
  telegramUserId,
  chatId,
  eventId: `startapp:${telegramUserId}:${Crypto.createHash("sha256").update(startParam).digest("base64url")}`
})

/** What `start_param` came to, for the Mini App (no platform account id in it). */
const startJson = (arrival: Arrival): Record<string, unknown> => {
  switch (arrival.kind) {
    case "refused":
      return { result: arrival.result }
    case "campaign":
      return { result: "ok", action: "campaign", landing: arrival.landing ?? null }
    case "referral":
      return { result: "ok", action: "referral" }
    case "resume":
      return { result: "ok", action: "resume", step: arrival.step, id: arrival.id ?? null }
    case "link_account":
      return { result: "ok", action: "link_account", confirm: "POST /v1/tg/link/confirm" }
  }
}

/** Responsible-gaming limits as the API shows them; all `null` (none known) for an unlinked account. */
const limitsJson = (rg: Limits | undefined) => ({
  deposit_daily: rg?.depositDaily ?? null,
  deposit_weekly: rg?.depositWeekly ?? null,
  deposit_monthly: rg?.depositMonthly ?? null,
  loss_daily: rg?.lossDaily ?? null,
  session_minutes: rg?.sessionMinutes ?? null,
  reality_check_minutes: rg?.realityCheckMinutes ?? null,
  self_excluded_until: rg?.selfExcludedUntil ?? null
})

