/**
 * The platform's own API, behind `Authorization: Bearer <INTERNAL_API_TOKEN>` (compared in constant time):
 * `POST /v1/internal/deep-links` makes a one-time deep link and answers the two ways to open it,
 * `t.me/<bot>?start=<token>` (the chat) and `t.me/<bot>/<app>?startapp=<token>` (the Mini App).
 */
import { ByteSize, Effect, Option, Redacted } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Env from "../config.ts"
import { BotApi } from "../../services/BotApi.ts"
import { DeepLinks, NewDeepLink } from "../../services/DeepLinks.ts"
import { apiRoute, strict } from "./AuthApi.ts"
import { errorResponse } from "./ErrorResponse.ts"
import { secretMatches } from "./Webhook.ts"

export const layer = (token: Redacted.Redacted<string>) =>
  HttpRouter.use((router) =>
    Effect.gen(function*() {
      const deepLinks = yield* DeepLinks
      const api = yield* BotApi
      const configured = yield* Env.botUsername
      const app = yield* Env.miniAppName
      const authorized = secretMatches(`Bearer ${Redacted.value(token)}`)
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

      const route = <E, R>(name: string, handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
        apiRoute(name, ByteSize.kilobytes(64), Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          if (!authorized(request.headers["authorization"])) {
            return errorResponse(401, "unauthorized", "a valid bearer token is required")
          }
          return yield* handler
        }))

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
    })
  )

