/**
 * `POST /telegram/webhook`: check the secret in constant time, read at most 1 MiB, decode only what routing
 * needs, append to the update stream (deduplicated, atomically) and answer at once. Redis unavailable: 503 with
 * `Retry-After`, so Telegram retries and nothing is lost.
 *
 * This one route is the hot path of the gateway (every update of every chat), so it is served by a Node
 * `request` listener placed in front of the Effect HTTP app (`WebhookServer`), not by the router: per update one
 * fiber runs the `ingest` span and the Redis append; the body, the answer and the metrics are plain Node. The
 * router's per-request machinery (request and response objects, middleware, body streams) cost two thirds of the
 * CPU of an update. Every other route, and any other method on this path, goes to the Effect app.
 */
import { type Config, Context, Effect, Exit, Option, Redacted, Tracer } from "effect"
import type * as Redis from "effect/persistence/Redis"
import * as Http from "node:http"
import * as Crypto from "node:crypto"
import * as Env from "../config.ts"
import { parseUpdate, type ParsedUpdate } from "../domain/Update.ts"
import * as Metrics from "../metrics.ts"
import { type AppendResult, UpdateIngest } from "../../streams/UpdateIngest.ts"
import { spanFromTraceparent, traceparentContinuing, traceparentOf } from "../../layers/Telemetry.ts"

export const maxBodyBytes = 1024 * 1024
export const webhookPath = "/telegram/webhook"
const secretHeader = "x-telegram-bot-api-secret-token"

/**
 * Compares in constant time: a header of another length is answered after the same comparison (of the secret
 * with itself), so neither the content nor the length of the secret shows in the timing.
 */
export const secretMatches = (secret: string) => {
  const expected = Buffer.from(secret, "utf8")
  return (given: string | undefined): boolean => {
    if (given === undefined) return false
    const candidate = Buffer.from(given, "utf8")
    const sameLength = candidate.length === expected.length
    return Crypto.timingSafeEqual(sameLength ? candidate : expected, expected) && sameLength
  }
}

/** A prepared answer: status, headers and body, written the same way for every request. */
type Answer = {
  readonly status: number
  readonly headers: Http.OutgoingHttpHeaders | Array<string>
  readonly body: string
}

/** The contract's error shape, `{"error":{"code","message"}}`. */
const failure = (status: number, code: string, message: string, headers?: Http.OutgoingHttpHeaders): Answer => {
  const body = JSON.stringify({ error: { code, message } })
  return {
    status,
    body,
    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers }
  }
}

// Headers as a flat list: the form Node writes fastest (no object to walk per answer).
const ok: Answer = { status: 200, headers: ["content-length", "0"], body: "" }
const unauthorized = failure(401, "invalid_secret", "missing or wrong X-Telegram-Bot-Api-Secret-Token")
// The rest of an oversized body is not read: the connection closes after the answer.
const tooLarge = failure(413, "body_too_large", `the body is over ${maxBodyBytes} bytes`, { connection: "close" })
const malformed = failure(400, "malformed_json", "the body is not JSON")
const notAnUpdate = failure(400, "not_an_update", "the body is not a Telegram Update with an integer update_id")
const unavailable = failure(503, "queue_unavailable", "the update queue is unavailable, retry later", {
  "retry-after": "1"
})

/** The path without its query string. */
const pathOf = (url: string | undefined): string | undefined => {
  if (url === undefined) return undefined
  const q = url.indexOf("?")
  return q === -1 ? url : url.slice(0, q)
}

/**
 * Takes a Node request when it is a webhook delivery (answering it) and returns true; false leaves it alone.
 * `awaitsContinue`: the client sent `Expect: 100-continue` and waits for `100 Continue` before the body.
 */
export type Listener = (
  request: Http.IncomingMessage,
  response: Http.ServerResponse,
  awaitsContinue: boolean
) => boolean

/** The webhook's Node listener, bound to the services it needs. */
export const listener: Effect.Effect<Listener, Config.ConfigError, UpdateIngest> = Effect.gen(function*() {
  const ingest = yield* UpdateIngest
  const matches = secretMatches(Redacted.value(yield* Env.webhookSecret))
  const context = yield* Effect.context<never>()
  const run = Effect.runCallbackWith(context)

  const answer = (response: Http.ServerResponse, started: number, result: Answer) => {
    response.writeHead(result.status, result.headers)
    if (result.body === "") response.end()
    else response.end(result.body)
    Metrics.webhookLatency.updateUnsafe((performance.now() - started) / 1000, context)
    Metrics.webhookResponses(result.status).updateUnsafe(1, context)
  }

  const appended = (result: AppendResult): Answer => {
    if (result._tag === "Duplicate") Metrics.updatesDeduplicated.updateUnsafe(1, context)
    else Metrics.updatesIngested("webhook").updateUnsafe(1, context)
    return ok
  }
  const failed = (error: Redis.RedisError) =>
    Effect.as(Effect.logWarning("webhook: update queue unavailable", { error: String(error.cause) }), unavailable)

  /**
   * With an exporter: the `ingest` span (a child of the caller's `traceparent` when it sent one, otherwise the
   * root of the update's trace) around the append, in a fiber.
   */
  const appendTraced = (update: ParsedUpdate, raw: string, incoming: string | undefined) =>
    Effect.withSpan(
      Effect.flatMap(traceparentOf, (stored) => ingest.append(update, raw, stored)).pipe(
        Effect.matchEffect({ onFailure: failed, onSuccess: (result) => Effect.sync(() => appended(result)) })
      ),
      "ingest",
      {
        kind: "server",
        captureStackTrace: false,
        parent: Option.getOrUndefined(spanFromTraceparent(incoming)),
        attributes: { "update.id": update.updateId }
      }
    )

  /** Without one, spans are not recorded: only the ids travel on, and no fiber is needed. */
  const exported = Context.get(context, Tracer.Tracer) !== Tracer.nativeTracer

  const received = (request: Http.IncomingMessage, response: Http.ServerResponse, started: number, raw: string) => {
    const parsed = parseUpdate(raw)
    if (parsed === "malformed") return answer(response, started, malformed)
    if (parsed._tag === "None") return answer(response, started, notAnUpdate)
    const incoming = typeof request.headers.traceparent === "string" ? request.headers.traceparent : undefined
    if (exported) {
      return run(appendTraced(parsed.value, raw, incoming), {
        onExit: (exit) => answer(response, started, Exit.isSuccess(exit) ? exit.value : unavailable)
      })
    }
    ingest.appendNow(parsed.value, raw, traceparentContinuing(incoming)).then(
      (result) => answer(response, started, appended(result)),
      (error: Redis.RedisError) =>
        run(failed(error), { onExit: () => answer(response, started, unavailable) })
    )
  }

  return (request, response, awaitsContinue) => {
    if (request.method !== "POST" || pathOf(request.url) !== webhookPath) return false
    const started = performance.now()
    if (!matches(request.headers[secretHeader] as string | undefined)) {
      answer(response, started, unauthorized)
      request.resume()
      return true
    }
    if (Number(request.headers["content-length"] ?? 0) > maxBodyBytes) {
      answer(response, started, tooLarge)
      return true
    }
    if (awaitsContinue) response.writeContinue()
    const chunks: Array<Buffer> = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBodyBytes) {
        // A chunked body with no length that grows past the limit.
        request.off("data", onData)
        request.off("end", onEnd)
        answer(response, started, tooLarge)
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () =>
      received(
        request,
        response,
        started,
        chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks, size).toString("utf8")
      )
    request.on("data", onData)
    request.on("end", onEnd)
    // A client that goes away mid-body: nothing was queued, nothing to answer.
    request.on("error", () => {})
    return true
  }
})

/**
 * A Node HTTP server that hands webhook deliveries to `webhook` before any other `request` listener (the Effect
 * HTTP app) sees them.
 */
export class WebhookServer extends Http.Server {
  readonly #webhook: Listener

  constructor(webhook: Listener, options: Http.ServerOptions) {
    super(options)
    this.#webhook = webhook
  }

  override emit(event: string | symbol, ...args: Array<any>): boolean {
    if (event === "request" || event === "checkContinue") {
      const [request, response] = args as [Http.IncomingMessage, Http.ServerResponse]
      if (this.#webhook(request, response, event === "checkContinue")) return true
    }
    return super.emit(event as string, ...args)
  }
}
