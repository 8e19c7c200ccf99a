/**
 * Test fixtures on the real Redis and Postgres: a unique key prefix and a fresh database per test file, and a
 * `ConfigProvider` so layers read their settings from the test instead of the process environment.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { ConfigProvider, Effect, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { Redis as IORedis } from "ioredis"
import * as Crypto from "node:crypto"

export const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
export const adminDatabaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

export const uniqueId = (label: string) => `${label}_${Crypto.randomBytes(4).toString("hex")}`

/** A plain ioredis client for assertions, closed with the scope. */
export const redisClient = (url = redisUrl) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new IORedis(url, { lazyConnect: true })
      await client.connect()
      return client
    }),
    (client) => Effect.sync(() => client.disconnect())
  )

/** Deletes every key under `prefix`. */
export const cleanRedis = (prefix: string, url = redisUrl) =>
  Effect.scoped(Effect.gen(function*() {
    const client = yield* redisClient(url)
    let cursor = "0"
    do {
      const [next, keys] = yield* Effect.promise(() => client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000))
      if (keys.length > 0) yield* Effect.promise(() => client.unlink(...keys))
      cursor = next
    } while (cursor !== "0")
  }))

/** A unique key prefix for one test, whose keys are deleted when the scope closes. */
export const testPrefix = (label: string) =>
  Effect.gen(function*() {
    const prefix = `${uniqueId(label)}:`
    yield* Effect.addFinalizer(() => cleanRedis(prefix))
    return prefix
  })

/** A fresh database for one test file, dropped when the scope closes. Yields its URL. */
export const testDatabase = Effect.gen(function*() {
  const name = uniqueId("tg_test")
  const exec = (statement: string) =>
    Effect.scoped(Effect.gen(function*() {
      const sql = yield* PgClient.make({ url: Redacted.make(adminDatabaseUrl), maxConnections: 1 })
      yield* sql.unsafe(statement)
    })).pipe(Effect.provide(Reactivity.layer), Effect.orDie)
  yield* Effect.acquireRelease(
    exec(`CREATE DATABASE ${name}`),
    () => exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  )
  const url = new URL(adminDatabaseUrl)
  url.pathname = `/${name}`
  return url.toString()
})


/** A `ConfigProvider` layer from a plain record: the test decides every value, the environment none. */
export const config = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

/** Settings every test gateway needs, plus the test's own. */
export const gatewayEnv = (options: {
  readonly prefix: string
  readonly databaseUrl: string
  readonly apiRoot?: string
  readonly extra?: Record<string, string>
}): Record<string, string> => ({
  BOT_TOKEN: "123456:TEST-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  WEBHOOK_SECRET: "test-secret",
  TELEGRAM_API_ROOT: options.apiRoot ?? "http://127.0.0.1:9",
  REDIS_URL: redisUrl,
  REDIS_PREFIX: options.prefix,
  DATABASE_URL: options.databaseUrl,
  PORT: "0",
  HOST: "127.0.0.1",
  LOG_LEVEL: "warn",
  PARTITIONS: "8",
  // The emulator is unlimited unless a test sets limits; tests of the limits set these too.
  ...unlimitedSending,
  ...options.extra
})

/** Send limits far above anything a functional test does, so only the tests about limits wait for them. */
export const unlimitedSending = { TG_GLOBAL_RATE: "100000", TG_CHAT_RATE: "1000", TG_GROUP_RATE_PER_MIN: "60000" }
