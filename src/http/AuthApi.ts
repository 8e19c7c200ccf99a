/**
 * The API routes' request bodies, decoded with Schema (unknown fields refused), and the one place their failures
 * become HTTP answers in the contract's error shape (`apiRoute`), for the sign-in and the platform's routes alike.
 */
import { type ByteSize, Duration, Effect, Metric, Schema } from "effect"
import { HttpIncomingMessage, type HttpServerResponse } from "effect/http"
import * as Metrics from "../metrics.ts"
import { AuthError } from "../domain/TelegramAuth.ts"
import { AlreadyLinked } from "../../services/Identity.ts"
import { TemplateError } from "../notify/Templates.ts"
import { PlatformError } from "../../services/Platform.ts"
import { SessionError } from "../../services/Sessions.ts"
import { TokenError } from "../../services/TokenIssuer.ts"
import { errorResponse } from "./ErrorResponse.ts"

export const ExchangeBody = Schema.Struct({ init_data: Schema.String.check(Schema.isMaxLength(8192)) })
export const ConfirmLinkBody = Schema.Struct({ start_param: Schema.String.check(Schema.isMaxLength(512)) })
export const RefreshBody = Schema.Struct({ refresh_token: Schema.String.check(Schema.isMaxLength(256)) })
export const ConsentsBody = Schema.Struct({
  promotions: Schema.optional(Schema.Boolean),
  tournaments: Schema.optional(Schema.Boolean),
  payouts: Schema.optional(Schema.Boolean)
})
/** Unknown fields are an error, not silently dropped: a typo in a consent name must not look accepted. */
export const strict = { onExcessProperty: "error" } as const

/** Too many requests for one address or one user. */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  retryAfterS: Schema.Number,
  scope: Schema.Literals(["ip", "user"])
}) {}

/** The request names no usable bearer token. */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>()("Unauthenticated", {
  message: Schema.String
}) {}

/** Redis or Postgres did not answer: nothing was decided, the client may retry. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  message: Schema.String
}) {}

/** initData verified but names no user (it was not opened by a person). */
export class NoUser extends Schema.TaggedError<NoUser>()("NoUser", {}) {}

/** Every expected failure of the sign-in routes, as the contract's JSON. */
export const failureResponse = (error: unknown): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  if (error instanceof AuthError || error instanceof TokenError || error instanceof SessionError) {
    return Effect.succeed(errorResponse(401, error.code, error.message, noStore))
  }
  if (error instanceof Unauthenticated) return Effect.succeed(errorResponse(401, "token_invalid", error.message, noStore))
  if (error instanceof NoUser) {
    return Effect.succeed(errorResponse(401, "malformed", "initData names no user", noStore))
  }
  if (error instanceof RateLimited) {
    return Effect.succeed(errorResponse(429, "rate_limited", `too many requests from this ${
      error.scope === "ip" ? "address" : "user"
    }; retry later`, { ...noStore, "retry-after": String(Math.max(1, Math.ceil(error.retryAfterS))) }))
  }
  if (error instanceof TemplateError) return Effect.succeed(errorResponse(400, error.code, error.message))
  if (error instanceof AlreadyLinked) return Effect.succeed(errorResponse(409, "already_linked", error.message))
  if (error instanceof PlatformError) {
    return error.reason._tag === "UserNotFound"
      ? Effect.succeed(errorResponse(404, "user_not_found", "the platform does not know this account"))
      : Effect.as(
        Effect.logWarning("platform call failed", { reason: error.reason._tag, error: error.message.slice(0, 300) }),
        errorResponse(503, "platform_unavailable", "the platform did not answer; retry later", { "retry-after": "5" })
      )
  }
  if (Schema.isSchemaError(error)) {
    return Effect.succeed(errorResponse(400, "invalid_request", `invalid request body: ${error.message.slice(0, 300)}`))
  }
  if (isTag(error, "HttpServerError")) {
    const tooLarge = String((error as { reason?: { reason?: string } }).reason?.reason) === "BodyTooLarge"
    return Effect.succeed(tooLarge
      ? errorResponse(413, "body_too_large", "request body too large")
      : errorResponse(400, "invalid_json", "the request body is not JSON"))
  }
  return Effect.as(
    Effect.logWarning("sign-in route: dependency unavailable", { error: isTag(error, "Unavailable") ? error : tagOf(error) }),
    errorResponse(503, "unavailable", "temporarily unavailable; retry later", { "retry-after": "1" })
  )
}

export const noStore = { "cache-control": "no-store" }

/**
 * Runs a route: bodies over `maxBody` are refused unread, failures become the contract's JSON (a defect a 500
 * without detail), and every answer is counted in `tg_api_responses_total{route,code_class}`.
 */
export const apiRoute = <E, R>(
  name: string,
  maxBody: ByteSize.ByteSize,
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
) =>
  handler.pipe(
    Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBody),
    Effect.catch(failureResponse),
    Effect.catchDefect((defect) =>
      Effect.as(
        Effect.logError("API route failed", { route: name, defect: String(defect) }),
        errorResponse(500, "internal_error", "internal error", noStore)
      )
    ),
    Effect.tap((response) => Metric.update(Metrics.apiResponses(name, `${Math.floor(response.status / 100)}xx`), 1))
  )

export const retryAfterSeconds = (duration: Duration.Duration): number => Duration.toMillis(duration) / 1000

const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : typeof error

const isTag = (error: unknown, tag: string): boolean => tagOf(error) === tag
