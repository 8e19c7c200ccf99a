/**
 * `GET /healthz` (the process answers) and `GET /readyz` (Redis and Postgres answer within a second), and
 * `GET /metrics` in Prometheus' text format, and the JSON 404 of every path no route claims.
 */
import { Effect } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import * as Redis from "effect/persistence/Redis"
import { SqlClient } from "effect/sql/SqlClient"
import { errorResponse } from "./ErrorResponse.ts"

const check = <E>(effect: Effect.Effect<unknown, E>) =>
  effect.pipe(
    Effect.timeout("1 second"),
    Effect.as("ok" as const),
    Effect.orElseSucceed(() => "unavailable" as const)
  )

export const layer = HttpRouter.use((router) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const sql = yield* SqlClient
    yield* router.add("GET", "/healthz", HttpServerResponse.jsonUnsafe({ status: "ok" }))
    yield* router.add(
      "GET",
      "/readyz",
      Effect.gen(function*() {
        const [redisState, postgresState] = yield* Effect.all(
          [check(redis.send("PING")), check(sql`SELECT 1`)],
          { concurrency: 2 }
        )
        return redisState === "ok" && postgresState === "ok"
          ? HttpServerResponse.jsonUnsafe({ status: "ready", redis: redisState, postgres: postgresState })
          : errorResponse(503, "not_ready", `redis: ${redisState}, postgres: ${postgresState}`)
      })
    )
    // Anything no route claims: the contract's JSON error, not an empty 404.
    yield* router.add("*", "/*", errorResponse(404, "not_found", "no such route"))
    yield* router.add(
      "GET",
      "/metrics",
      Effect.map(PrometheusMetrics.format(), (body) =>
        HttpServerResponse.text(body, { contentType: "text/plain; version=0.0.4; charset=utf-8" }))
    )
  })
)
