/**
 * The platform's own API, behind `Authorization: Bearer <INTERNAL_API_TOKEN>` (compared in constant time):
 * `POST /v1/internal/deep-links` makes a one-time deep link and answers the two ways to open it,
 * `t.me/<bot>?start=<token>` (the chat) and `t.me/<bot>/<app>?startapp=<token>` (the Mini App).
 */
import { ByteSize, Effect, Metric, Option, Redacted } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Env from "../config.ts"
import * as Metrics from "../metrics.ts"
import { BotApi } from "../../services/BotApi.ts"
import { DeepLinks, NewDeepLink } from "../../services/DeepLinks.ts"
import { strict } from "./AuthApi.ts"
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
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          if (!authorized(request.headers["authorization"])) {
            return errorResponse(401, "unauthorized", "a valid bearer token is required")
          }
          return yield* handler
        }).pipe(
          Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.kilobytes(64)),
          Effect.catch((error) => Effect.succeed(internalFailure(error))),
          Effect.catchDefect((defect) =>
            Effect.as(
              Effect.logError("internal route failed", { route: name, defect: String(defect) }),
              errorResponse(500, "internal_error", "internal error")
            )
          ),
          Effect.tap((response) => Metric.update(Metrics.apiResponses(name, `${Math.floor(response.status / 100)}xx`), 1))
        )

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

const internalFailure = (error: unknown): HttpServerResponse.HttpServerResponse => {
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : ""
  if (tag === "SchemaError") {
    return errorResponse(400, "invalid_request", `invalid request body: ${String((error as Error).message).slice(0, 300)}`)
  }
  if (tag === "HttpServerError") {
    return String((error as { reason?: { reason?: string } }).reason?.reason) === "BodyTooLarge"
      ? errorResponse(413, "body_too_large", "request body too large")
      : errorResponse(400, "invalid_json", "the request body is not JSON")
  }
  return errorResponse(503, "unavailable", "temporarily unavailable; retry later", { "retry-after": "1" })
}
