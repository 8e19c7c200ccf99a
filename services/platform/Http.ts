/**
 * The operator's backend over HTTP, exactly as `docs/platform-api.yaml` describes it: `GET` routes (and one
 * `POST`, activating a promo code) under `PLATFORM_API_URL`, `Authorization: Bearer <PLATFORM_API_TOKEN>`
 * (Redacted: Effect's client keeps it out of logs and spans), at most `PLATFORM_TIMEOUT_MS` per call including
 * the body, every request body encoded and every answer decoded with the codecs in `Wire.ts`.
 *
 * A 404 with the documented error body is `UserNotFound` (or `NotFound` on tournament routes); a bare 404 is a
 * `BadResponse` (likely a wrong base URL, not a missing user). 408, 429, 5xx, timeouts and network errors are
 * `PlatformUnavailable` (retryable); other 4xx are `InvalidRequest`; a body that does not decode is `BadResponse`.
 */
import { Config, ConfigProvider, Effect, Option, Schema } from "effect"
import { HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "effect/http"
import * as Env from "../../src/config.ts"
import type { Backend } from "../Platform.ts"
import * as Model from "./Model.ts"
import * as Wire from "./Wire.ts"

export const make = Effect.gen(function*() {
  const baseUrl = yield* required(Env.platformApiUrl, "PLATFORM_API_URL is required by the HTTP platform")
  const token = yield* required(Env.platformApiToken, "PLATFORM_API_TOKEN is required when PLATFORM_API_URL is set")
  const timeoutMs = yield* Env.platformTimeoutMs
  const client = (yield* HttpClient.HttpClient).pipe(
    HttpClient.mapRequest((request) =>
      request.pipe(
        HttpClientRequest.prependUrl(baseUrl.replace(/\/+$/, "")),
        HttpClientRequest.bearerToken(token),
        HttpClientRequest.acceptJson
      )
    )
  )

  /**
   * Sends `request` (its url a path under the base URL) and decodes a 2xx answer with `Answer`; `notFound` says
   * what a documented 404 means on this route.
   */
  const send = <A>(
    request: HttpClientRequest.HttpClientRequest,
    Answer: Schema.Codec<A, unknown, never, unknown>,
    notFound: () => Model.Reason
  ): Effect.Effect<A, Model.Reason> =>
    client.execute(request).pipe(
      Effect.flatMap((response) =>
        Effect.flatMap(response.text, (body) =>
          response.status >= 200 && response.status < 300
            ? Schema.decodeUnknownEffect(Schema.fromJsonString(Answer))(body).pipe(
              Effect.mapError((error) =>
                new Model.BadResponse({ message: Model.clip(`${request.url}: ${error.message}`) })
              )
            )
            : Effect.fail(refusal(response, body, notFound)))
      ),
      Effect.catchTag("HttpClientError", (error) => Effect.fail(fromClientError(error))),
      Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () => Effect.fail(new Model.PlatformUnavailable({ message: `no answer within ${timeoutMs} ms` }))
      })
    )

  /** `GET path?urlParams` (parameters that are `undefined` left out), as `send`. */
  const get = <A>(
    path: string,
    urlParams: Readonly<Record<string, string | number | undefined>>,
    Answer: Schema.Codec<A, unknown, never, unknown>,
    notFound: () => Model.Reason
  ): Effect.Effect<A, Model.Reason> => send(HttpClientRequest.get(path, { urlParams }), Answer, notFound)

  /** `POST path` with `body` as JSON encoded by `Body`, as `send`; a body `Body` refuses is `InvalidRequest`. */
  const post = <B, A>(
    path: string,
    Body: Schema.Codec<B, unknown, never, never>,
    body: B,
    Answer: Schema.Codec<A, unknown, never, unknown>,
    notFound: () => Model.Reason
  ): Effect.Effect<A, Model.Reason> =>
    Schema.encodeEffect(Body)(body).pipe(
      Effect.mapError((error) => new Model.InvalidRequest({ message: Model.clip(`${path}: ${error.message}`) })),
      Effect.flatMap((json) =>
        send(HttpClientRequest.bodyJsonUnsafe(HttpClientRequest.post(path), json), Answer, notFound)
      )
    )

  const user = (userId: string, part: string) => `/v1/users/${encodeURIComponent(userId)}/${part}`
  const userNotFound = (userId: string) => () => new Model.UserNotFound({ userId })

  const backend: Backend = {
    profile: (userId) => get(user(userId, "profile"), {}, Wire.Profile, userNotFound(userId)),
    balances: (userId) =>
      Effect.map(get(user(userId, "balances"), {}, Wire.Balances, userNotFound(userId)), (a) => a.balances),
    kyc: (userId) => get(user(userId, "kyc"), {}, Wire.Kyc, userNotFound(userId)),
    limits: (userId) => get(user(userId, "limits"), {}, Wire.Limits, userNotFound(userId)),
    transactions: (userId, page) =>
      Effect.map(
        get(user(userId, "transactions"), { limit: page.limit, before: page.before }, Wire.Transactions,
          userNotFound(userId)),
        (a) => a.transactions
      ),
    tournaments: (filter) =>
      Effect.map(
        get("/v1/tournaments", { status: filter.status }, Wire.Tournaments, () =>
          new Model.BadResponse({ message: "/v1/tournaments answered 404" })),
        (a) => a.tournaments
      ),
    leaderboard: (tournamentId, limit) =>
      Effect.map(
        get(`/v1/tournaments/${encodeURIComponent(tournamentId)}/leaderboard`, { limit }, Wire.Leaderboard, () =>
          new Model.NotFound({ what: `tournament ${tournamentId}` })),
        (a) => a.leaderboard
      ),
    missions: (userId) =>
      Effect.map(get(user(userId, "missions"), {}, Wire.Missions, userNotFound(userId)), (a) => a.missions),
    activatePromo: (userId, code) =>
      post(user(userId, "promo-codes"), Wire.PromoActivation, { code }, Wire.PromoOutcome, userNotFound(userId))
  }
  return backend
})

/** What an answer other than 2xx means; `body` is its text, ideally the documented error body. */
const refusal = (
  response: HttpClientResponse.HttpClientResponse,
  body: string,
  notFound: () => Model.Reason
): Model.Reason => {
  const error = Schema.decodeUnknownOption(Schema.fromJsonString(Wire.ErrorBody))(body)
  const detail = `${response.status} ${
    Option.match(error, { onNone: () => "(no error body)", onSome: (e) => `${e.error.code}: ${e.error.message}` })
  }`
  if (response.status === 404) {
    return Option.isSome(error)
      ? notFound()
      : new Model.BadResponse({ message: "404 without the documented error body: is PLATFORM_API_URL right?" })
  }
  if (response.status === 408 || response.status === 429 || response.status >= 500) {
    return new Model.PlatformUnavailable({ message: Model.clip(detail) })
  }
  return response.status >= 400
    ? new Model.InvalidRequest({ message: Model.clip(detail) })
    : new Model.BadResponse({ message: Model.clip(`unexpected ${detail}`) })
}

/** Effect's client errors: the network is `PlatformUnavailable`, an unreadable answer `BadResponse`. */
const fromClientError = (error: HttpClientError.HttpClientError): Model.Reason => {
  switch (error.reason._tag) {
    case "TransportError": {
      const cause = error.reason.cause
      const detail = cause instanceof Error ? `: ${cause.message}` : ""
      return new Model.PlatformUnavailable({ message: Model.clip(`${error.message}${detail}`) })
    }
    case "InvalidUrlError":
    case "EncodeError":
      return new Model.InvalidRequest({ message: Model.clip(error.message) })
    default:
      return new Model.BadResponse({ message: Model.clip(error.message) })
  }
}

/** An optional setting this implementation cannot do without, failing the layer like a missing variable. */
const required = <A>(setting: Config.Config<Option.Option<A>>, message: string) =>
  Effect.gen(function*() {
    const value = yield* setting
    if (Option.isNone(value)) return yield* Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message })))
    return value.value
  })
