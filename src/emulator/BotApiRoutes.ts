/**
 * The Bot API's URL space: `GET|POST /bot<token>/<method>`, file downloads at
 * `GET /file/bot<token>/<file_path>`, and Telegram's 404 body for everything else. Requests are
 * turned into `BotApi` calls; answers into Telegram's JSON envelopes, with `Retry-After` on 429.
 */
import { Effect } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { BotApi, type BotApiAnswer } from "./BotApi.ts"
import { notFound } from "./BotApiError.ts"
import { Bots } from "./Bots.ts"
import { Files } from "./Files.ts"
import { readParams } from "./params/RequestParams.ts"
import { PreciseNow } from "./PreciseTime.ts"

export const toResponse = (answer: BotApiAnswer): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(answer.body, {
    status: answer.status,
    ...(answer.retryAfter === undefined ? {} : { headers: { "retry-after": String(answer.retryAfter) } })
  })

const notFoundResponse = HttpServerResponse.jsonUnsafe(notFound().toBody(), { status: 404 })

const methodCall = Effect.gen(function*() {
  const now = yield* PreciseNow
  const receivedAt = now()
  const api = yield* BotApi
  const request = yield* HttpServerRequest.HttpServerRequest
  const query = yield* HttpServerRequest.ParsedSearchParams
  const { token = "", method = "" } = yield* HttpRouter.params
  const call = { token, method, params: {}, uploads: new Map(), receivedAt }
  const answer = yield* readParams(request, query).pipe(
    Effect.matchEffect({
      onFailure: (error) => api.reject(call, error),
      onSuccess: ({ params, uploads }) => api.call({ ...call, params, uploads })
    })
  )
  return toResponse(answer)
})

const fileDownload = Effect.gen(function*() {
  const bots = yield* Bots
  const files = yield* Files
  const params = yield* HttpRouter.params
  if (bots.authenticate(params["token"] ?? "") === undefined) {
    return HttpServerResponse.jsonUnsafe({ ok: false, error_code: 401, description: "Unauthorized" }, { status: 401 })
  }
  const file = files.byPath(params["*"] ?? "")
  if (file === undefined) return notFoundResponse
  return HttpServerResponse.uint8Array(file.content, { contentType: file.mimeType })
})

export const BotApiRoutes = HttpRouter.use(
  (router) =>
    Effect.gen(function*() {
      yield* router.add("*", "/bot:token/:method", methodCall)
      yield* router.add("GET", "/file/bot:token/*", fileDownload)
      yield* router.add("*", "*", Effect.succeed(notFoundResponse))
    })
)
