/**
 * A loopback stand-in for the operator's backend: a Node HTTP server on port 0 serving the routes of
 * `docs/platform-api.yaml` from a `Platform` (in tests, the seeded reference one), so the HTTP implementation can
 * be compared with the reference answer for answer. It refuses any bearer token but `token`, records every
 * request, and misbehaves on demand (`fault`); it closes with the scope.
 */
import { Effect, FiberSet, Schema } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import type { Platform, PlatformError } from "../../services/Platform.ts"
import * as Wire from "../../services/platform/Wire.ts"

export type Fault = "none" | "error500" | "wrongShape" | "notJson" | "bare404" | "slow"

export type Backend = {
  readonly url: string
  /** Path with query, and the `Authorization` header, of each request so far. */
  readonly requests: ReadonlyArray<{ readonly path: string; readonly authorization: string | undefined }>
  readonly fault: (fault: Fault) => void
}

type Answer = { readonly status: number; readonly body: string }
const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body) })
const error = (status: number, code: string, message: string) => json(status, { error: { code, message } })

export const start = (platform: Platform["Service"], options: { readonly token: string; readonly slowMs: number }) =>
  Effect.gen(function*() {
    const requests: Array<{ path: string; authorization: string | undefined }> = []
    let fault: Fault = "none"

    const encode = <A, I>(Codec: Schema.Codec<A, I>, answer: Effect.Effect<A, PlatformError>) =>
      Effect.flatMap(answer, (a) => Effect.orDie(Schema.encodeEffect(Codec)(a)))
    const route = (url: URL): Effect.Effect<unknown, PlatformError> | undefined => {
      const limit = Number(url.searchParams.get("limit"))
      const before = url.searchParams.get("before")
      const user = /^\/v1\/users\/([^/]+)\/([a-z]+)$/.exec(url.pathname)
      const board = /^\/v1\/tournaments\/([^/]+)\/leaderboard$/.exec(url.pathname)
      if (user !== null) {
        const id = decodeURIComponent(user[1]!)
        switch (user[2]) {
          case "profile": return encode(Wire.Profile, platform.profile(id))
          case "balances": return encode(Wire.Balances, Effect.map(platform.balances(id), (balances) => ({ balances })))
          case "kyc": return encode(Wire.Kyc, platform.kyc(id))
          case "limits": return encode(Wire.Limits, platform.limits(id))
          case "transactions":
            return encode(Wire.Transactions, Effect.map(
              platform.transactions(id, before === null ? { limit } : { limit, before }),
              (transactions) => ({ transactions })
            ))
          case "missions": return encode(Wire.Missions, Effect.map(platform.missions(id), (missions) => ({ missions })))
        }
      }
      if (board !== null) {
        const leaderboard = platform.leaderboard(decodeURIComponent(board[1]!), limit)
        return encode(Wire.Leaderboard, Effect.map(leaderboard, (rows) => ({ leaderboard: rows })))
      }
      if (url.pathname === "/v1/tournaments") {
        const status = Schema.decodeUnknownOption(Schema.Literals(["upcoming", "running", "finished"]))(
          url.searchParams.get("status")
        )
        const filter = status._tag === "Some" ? { status: status.value } : {}
        return encode(Wire.Tournaments, Effect.map(platform.tournaments(filter), (tournaments) => ({ tournaments })))
      }
      return undefined
    }

    const answer = (url: URL, authorization: string | undefined): Effect.Effect<Answer> => {
      if (authorization !== `Bearer ${options.token}`) return Effect.succeed(error(401, "unauthorized", "bad token"))
      switch (fault) {
        case "error500": return Effect.succeed(error(500, "internal", "the database is down"))
        case "wrongShape": return Effect.succeed(json(200, { user_id: 42, balances: "many" }))
        case "notJson": return Effect.succeed({ status: 200, body: "<html>maintenance</html>" })
        case "bare404": return Effect.succeed({ status: 404, body: "Not Found" })
        default: break
      }
      const found = route(url)
      if (found === undefined) return Effect.succeed(error(404, "not_found", "no such route"))
      return found.pipe(
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
      const url = new URL(request.url ?? "/", "http://backend")
      requests.push({ path: url.pathname + url.search, authorization: request.headers.authorization })
      run(Effect.flatMap(answer(url, request.headers.authorization), ({ status, body }) =>
        Effect.sync(() => response.writeHead(status, { "content-type": "application/json" }).end(body))))
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
