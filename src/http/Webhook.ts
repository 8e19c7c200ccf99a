/**
 * `POST /telegram/webhook`: check the secret in constant time, read at most 1 MiB, decode only what routing
 * needs, append to the update stream (deduplicated, atomically) and answer at once. Redis unavailable: 503 with
 * `Retry-After`, so Telegram retries and nothing is lost.
 */
import { ByteSize, Duration, Effect, Layer, Metric, Redacted } from "effect"
import { HttpIncomingMessage, HttpMiddleware, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Crypto from "node:crypto"
import * as Env from "../config.ts"
import { parseUpdate } from "../domain/Update.ts"
import * as Metrics from "../metrics.ts"
import { UpdateIngest } from "../../streams/UpdateIngest.ts"
import { traceparentOf } from "../../layers/Telemetry.ts"
import { errorResponse } from "./ErrorResponse.ts"

export const maxBodyBytes = 1024 * 1024
export const webhookPath = "/telegram/webhook"
const secretHeader = "x-telegram-bot-api-secret-token"

const digest = (s: string) => Crypto.createHash("sha256").update(s).digest()

/** Compares digests, so neither the content nor the length of the secret leaks through timing. */
export const secretMatches = (expected: Buffer) => (given: string | undefined): boolean =>
  given !== undefined && Crypto.timingSafeEqual(expected, digest(given))

const ok = HttpServerResponse.empty({ status: 200 })
const unauthorized = errorResponse(401, "invalid_secret", "missing or wrong X-Telegram-Bot-Api-Secret-Token")
const tooLarge = errorResponse(413, "body_too_large", `the body is over ${maxBodyBytes} bytes`)
const malformed = errorResponse(400, "malformed_json", "the body is not JSON")
const notAnUpdate = errorResponse(400, "not_an_update", "the body is not a Telegram Update with an integer update_id")
const unavailable = errorResponse(503, "queue_unavailable", "the update queue is unavailable, retry later", {
  "retry-after": "1"
})

export const layer = HttpRouter.use((router) =>
  Effect.gen(function*() {
    const ingest = yield* UpdateIngest
    const matches = secretMatches(digest(Redacted.value(yield* Env.webhookSecret)))

    const handle = Effect.fnUntraced(function*(request: HttpServerRequest.HttpServerRequest) {
      if (!matches(request.headers[secretHeader])) return unauthorized
      if (Number(request.headers["content-length"] ?? 0) > maxBodyBytes) return tooLarge
      const body = yield* request.text.pipe(Effect.result)
      if (body._tag === "Failure") {
        const reason = body.failure.reason
        return reason._tag === "RequestParseError" && reason.reason === "BodyTooLarge" ? tooLarge : malformed
      }
      const parsed = parseUpdate(body.success)
      if (parsed === "malformed") return malformed
      if (parsed._tag === "None") return notAnUpdate
      const traceparent = yield* traceparentOf
      const appended = yield* ingest.append(parsed.value, body.success, traceparent).pipe(Effect.result)
      if (appended._tag === "Failure") {
        yield* Effect.logWarning("webhook: update queue unavailable", { error: String(appended.failure.cause) })
        return unavailable
      }
      if (appended.success._tag === "Duplicate") yield* Metric.update(Metrics.updatesDeduplicated, 1)
      else yield* Metric.update(Metrics.updatesIngested("webhook"), 1)
      return ok
    })

    yield* router.add("POST", webhookPath, (request) =>
      handle(request).pipe(
        Effect.timed,
        Effect.flatMap(([elapsed, response]) =>
          Effect.as(
            Effect.all([
              Metric.update(Metrics.webhookLatency, Duration.toSeconds(elapsed)),
              Metric.update(Metrics.webhookResponses(response.status), 1)
            ], { discard: true }),
            response
          )
        )
      ))
  })
)

/**
 * Server settings the webhook relies on: the 1 MiB body limit, and the request's server span named `ingest`
 * (the root of each update's trace; other routes get `METHOD /path`).
 */
export const serverSettings = Layer.mergeAll(
  Layer.succeed(HttpIncomingMessage.MaxBodySize)(ByteSize.bytes(maxBodyBytes)),
  Layer.succeed(HttpMiddleware.SpanNameGenerator)((request) =>
    request.url === webhookPath ? "ingest" : `${request.method} ${request.url.split("?")[0]}`
  )
)
