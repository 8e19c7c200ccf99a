/**
 * A loopback stand-in for the operator's backend: a Node HTTP server on port 0 serving the routes of
 * `docs/platform-api.yaml` from a `Platform` (in tests, the seeded reference one), so the HTTP implementation can
 * be compared with the reference answer for answer. It refuses any bearer token but `token`, a route called
 * with another method (405) and a `POST` body that is not the documented JSON (415, 400), records every
 * request, and misbehaves on demand (`fault`); it closes with the scope.
 */
import { Effect, FiberSet, Schema } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { InvalidRequest, type Platform, PlatformError } from "../../services/Platform.ts"
import * as Wire from "../../services/platform/Wire.ts"

export type Fault = "none" | "error500" | "wrongShape" | "notJson" | "bare404" | "slow"

/** One request as it arrived: `path` with its query, `body` as text (empty for `GET`). */
export type Received = {
  readonly method: string
  readonly path: string
  readonly authorization: string | undefined
  readonly contentType: string | undefined
  readonly body: string
}

export type Backend = {
  readonly url: string
  /** Each request so far, in order of arrival. */
  readonly requests: ReadonlyArray<Received>
  readonly fault: (fault: Fault) => void
}

type Answer = { readonly status: number; readonly body: string }
/** A route: the method it answers and what it answers (its reasons mapped to statuses by `answer`). */
type Route = { readonly method: "GET" | "POST"; readonly handle: Effect.Effect<unknown, PlatformError> }
const read = (handle: Effect.Effect<unknown, PlatformError>): Route => ({ method: "GET", handle })
const write = (handle: Effect.Effect<unknown, PlatformError>): Route => ({ method: "POST", handle })
const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body) })
const error = (status: number, code: string, message: string) => json(status, { error: { code, message } })

export const start = (platform: Platform["Service"], options: { readonly token: string; readonly slowMs: number }) =>
  Effect.gen(function*() {
    const requests: Array<Received> = []
    let fault: Fault = "none"

    const encode = <A, I>(Codec: Schema.Codec<A, I>, answer: Effect.Effect<A, PlatformError>) =>
      Effect.flatMap(answer, (a) => Effect.orDie(Schema.encodeEffect(Codec)(a)))
    /** The promo code of a `POST` body; a body that is not the documented JSON is `InvalidRequest`. */
    const promoCode = (body: string) =>
      Schema.decodeUnknownEffect(Schema.fromJsonString(Wire.PromoActivation))(body).pipe(
        Effect.map(({ code }) => code),
        Effect.mapError((e) =>
          new PlatformError({ method: "activatePromo", reason: new InvalidRequest({ message: e.message }) }))
      )
    const route = (url: URL, body: string): Route | undefined => {
      const limit = Number(url.searchParams.get("limit"))
      const before = url.searchParams.get("before")
      const user = /^\/v1\/users\/([^/]+)\/([a-z-]+)$/.exec(url.pathname)
      const board = /^\/v1\/tournaments\/([^/]+)\/leaderboard$/.exec(url.pathname)
      if (user !== null) {
        const id = decodeURIComponent(user[1]!)
        switch (user[2]) {
          case "profile": return read(encode(Wire.Profile, platform.profile(id)))
          case "balances":
            return read(encode(Wire.Balances, Effect.map(platform.balances(id), (balances) => ({ balances }))))
          case "kyc": return read(encode(Wire.Kyc, platform.kyc(id)))
          case "limits": return read(encode(Wire.Limits, platform.limits(id)))
          case "transactions":
            return read(encode(Wire.Transactions, Effect.map(
              platform.transactions(id, before === null ? { limit } : { limit, before }),
              (transactions) => ({ transactions })
            )))
          case "missions":
            return read(encode(Wire.Missions, Effect.map(platform.missions(id), (missions) => ({ missions }))))
          case "promo-codes":
            return write(Effect.flatMap(promoCode(body), (code) =>
              encode(Wire.PromoOutcome, platform.activatePromo(id, code))))
        }
      }
      if (board !== null) {
        const leaderboard = platform.leaderboard(decodeURIComponent(board[1]!), limit)
        return read(encode(Wire.Leaderboard, Effect.map(leaderboard, (rows) => ({ leaderboard: rows }))))
      }
      if (url.pathname === "/v1/tournaments") {
        const status = Schema.decodeUnknownOption(Schema.Literals(["upcoming", "running", "finished"]))(
          url.searchParams.get("status")
        )
        const filter = status._tag === "Some" ? { status: status.value } : {}
        const tournaments = platform.tournaments(filter)
        return read(encode(Wire.Tournaments, Effect.map(tournaments, (list) => ({ tournaments: list }))))
      }
      return undefined
    }

    const answer = (received: Received, url: URL): Effect.Effect<Answer> => {
      if (received.authorization !== `Bearer ${options.token}`) {
        return Effect.succeed(error(401, "unauthorized", "bad token"))
      }
      switch (fault) {
        case "error500": return Effect.succeed(error(500, "internal", "the database is down"))
        case "wrongShape": return Effect.succeed(json(200, { user_id: 42, balances: "many" }))
        case "notJson": return Effect.succeed({ status: 200, body: "<html>maintenance</html>" })
        case "bare404": return Effect.succeed({ status: 404, body: "Not Found" })
        default: break
      }
      const found = route(url, received.body)
      if (found === undefined) return Effect.succeed(error(404, "not_found", "no such route"))
      if (found.method !== received.method) {
        return Effect.succeed(error(405, "invalid_request", `${received.method} ${url.pathname}: use ${found.method}`))
      }
      if (found.method === "POST" && received.contentType?.split(";")[0]?.trim() !== "application/json") {
        return Effect.succeed(error(415, "invalid_request", "the body must be application/json"))
      }
      return found.handle.pipe(
        Effect.map((body) => json(200, body)),
        Effect.catch((e) => {
          const r = e.reason
          return Effect.succeed(
            r._tag === "UserNotFound" ? error(404, "user_not_found", `no user ${r.userId}`)
            : r._tag === "NotFound" ? error(404, "not_found", `no ${r.what}`)
            : r._tag === "InvalidRequest" ? error(400, "invalid_request", r.message)
            : error(500, "internal", r.message)
          )
        }),
        Effect.delay(fault === "slow" ? options.slowMs : 0)
      )
    }

    const run = yield* FiberSet.makeRuntime()
    const server = Http.createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => void chunks.push(chunk))
      request.on("end", () => {
        const url = new URL(request.url ?? "/", "http://backend")
        const received: Received = {
          method: request.method ?? "GET",
          path: url.pathname + url.search,
          authorization: request.headers.authorization,
          contentType: request.headers["content-type"],
          body: Buffer.concat(chunks).toString("utf8")
        }
        requests.push(received)
        run(Effect.flatMap(answer(received, url), ({ status, body }) =>
          Effect.sync(() => response.writeHead(status, { "content-type": "application/json" }).end(body))))
      })
    })
    yield* Effect.acquireRelease(
      Effect.callback<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
      () =>
        Effect.callback<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const { port } = server.address() as AddressInfo
    return { url: `http://127.0.0.1:${port}`, requests, fault: (next) => void (fault = next) } satisfies Backend
  })
