/**
 * The platform's own API, behind `Authorization: Bearer <INTERNAL_API_TOKEN>` (compared in constant time):
 * `POST /v1/internal/deep-links` makes a one-time deep link and answers the two ways to open it,
 * `t.me/<bot>?start=<token>` (the chat) and `t.me/<bot>/<app>?startapp=<token>` (the Mini App);
 * `POST /v1/internal/notify` sends a template to players or chats now, through the same path as the platform's
 * events (consents, languages, blocked chats, the notify lane) and answers what was queued and what was skipped.
 */
import { ByteSize, Effect, Option, Redacted, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Crypto from "node:crypto"
import * as Env from "../config.ts"
import { BotApi } from "../../services/BotApi.ts"
import { DeepLinks, NewDeepLink } from "../../services/DeepLinks.ts"
import { Notifications, type Target } from "../../services/Notifications.ts"
import { Id as UserId } from "../../services/platform/Model.ts"
import { Templates } from "../notify/Templates.ts"
import { apiRoute, strict } from "./AuthApi.ts"
import { errorResponse } from "./ErrorResponse.ts"
import { secretMatches } from "./Webhook.ts"

export const layer = (token: Redacted.Redacted<string>) =>
  HttpRouter.use((router) =>
    Effect.gen(function*() {
      const deepLinks = yield* DeepLinks
      const templates = yield* Templates
      const notifications = yield* Notifications
      const api = yield* BotApi
      const configured = yield* Env.botUsername
      const app = yield* Env.miniAppName
      // The bot's username: from config, or from Telegram on first need (a failure is asked again next time).
      let known = Option.getOrUndefined(configured)
      const username = Effect.suspend(() =>
        known !== undefined ? Effect.succeed(known) : Effect.flatMap(api.call("getMe", {}), (me) => {
          if (typeof me !== "object" || me === null || !("username" in me) || typeof me.username !== "string") {
            return Effect.fail(new Error("getMe answered without a username"))
          }
          known = me.username
          return Effect.succeed(me.username)
        }))

      const route = internalRoute(token)

      yield* router.add("POST", "/v1/internal/deep-links", route("deep_links", Effect.gen(function*() {
        const link = yield* HttpServerRequest.schemaBodyJson(NewDeepLink, strict)
        const bot = yield* username
        const created = yield* deepLinks.create(link)
        return HttpServerResponse.jsonUnsafe({
          token: created.token,
          start_url: `https://t.me/${bot}?start=${created.token}`,
          startapp_url: `https://t.me/${bot}/${app}?startapp=${created.token}`,
          expires_at: created.expiresAt.toISOString()
        }, { status: 201, headers: { "cache-control": "no-store" } })
      })))

      yield* router.add("POST", "/v1/internal/notify", route("notify", Effect.gen(function*() {
        const body = yield* HttpServerRequest.schemaBodyJson(NotifyBody, strict)
        const prepared = yield* templates.prepare(body.template, body.vars ?? {})
        // Without a key every request sends; with one, the same request again sends nothing new.
        const key = body.idempotency_key ?? (yield* Effect.sync(() => Crypto.randomUUID()))
        // A target named twice is one target; the key names the template, so reusing a key for another
        // template is another notification, not a silent no-op.
        const targets = [...new Map(body.targets.map((t): [string, Target] =>
          t.user_id !== undefined ? [`u:${t.user_id}`, { userId: t.user_id }] : [`c:${t.chat_id}`, { chatId: t.chat_id! }]
        )).values()]
        const deliveries = yield* notifications.notify({
          prepared,
          targets,
          idempotencyKey: `notify:${body.template}:${key}`,
          lane: "notify"
        })
        return HttpServerResponse.jsonUnsafe({
          accepted: deliveries.reduce((n, d) => n + ("queued" in d ? d.queued.length : 0), 0),
          skipped: deliveries.flatMap((d) =>
            "skipped" in d
              ? [{ target: "userId" in d.target ? { user_id: d.target.userId } : { chat_id: d.target.chatId }, reason: d.skipped }]
              : []
          )
        }, { status: 202 })
      }), ByteSize.kilobytes(256)))
    })
  )

/**
 * Wraps a handler of the platform's API: the bearer token (compared in constant time), a body limit (64 KB unless
 * said otherwise), failures as the contract's JSON and `tg_api_responses_total`.
 */
export const internalRoute = (token: Redacted.Redacted<string>) => {
  const authorized = secretMatches(`Bearer ${Redacted.value(token)}`)
  return <E, R>(
    name: string,
    handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    maxBody: ByteSize.ByteSize = ByteSize.kilobytes(64)
  ) =>
    apiRoute(name, maxBody, Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!authorized(request.headers["authorization"])) {
        return errorResponse(401, "unauthorized", "a valid bearer token is required")
      }
      return yield* handler
    }))
}

/** One player (`user_id`: every chat linked to the platform user) or one chat (`chat_id`), not both. */
const NotifyTarget = Schema.Struct({
  chat_id: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: -(2 ** 52), maximum: 2 ** 52 }))),
  user_id: Schema.optional(UserId)
}).check(Schema.makeFilter((t) => (t.chat_id === undefined) !== (t.user_id === undefined) || "a target names either chat_id or user_id"))

export const NotifyBody = Schema.Struct({
  template: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)),
  vars: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
  targets: Schema.Array(NotifyTarget).check(Schema.isMinLength(1), Schema.isMaxLength(1000)),
  idempotency_key: Schema.optional(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200)))
})
