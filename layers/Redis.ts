/**
 * Redis through ioredis, offered as effect's persistence `Redis` service.
 *
 * The shared connection fails commands at once while disconnected (no offline queue), so the webhook can answer
 * 503 instead of hanging; it reconnects on its own. `reserve` hands out dedicated connections for blocking reads
 * (`XREADGROUP BLOCK`); they never reconnect, a broken one leaves the pool.
 */
import { type Config, Context, Effect, Layer, Redacted } from "effect"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Redis from "effect/persistence/Redis"
import { Redis as IORedis, type RedisOptions } from "ioredis"
import * as Env from "../src/config.ts"

const baseOptions = {
  lazyConnect: true,
  // RESP2: the reply shapes Redis documents (RESP3 maps would arrive flattened).
  protocol: 2,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  // Batched by `batchThisTick` instead (see there).
  enableAutoPipelining: false,
  connectTimeout: 5000,
  // A Redis that hangs without disconnecting fails commands instead of holding their callers (and the Postgres
  // locks some of them hold) forever. Blocking reads block for at most a few seconds, well within it.
  commandTimeout: 10_000,
  retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 2000)
} satisfies RedisOptions

const toError = (cause: unknown) => new Redis.RedisError({ cause })

const sendWith = (client: IORedis) => <A = unknown>(command: string, ...args: ReadonlyArray<string>) =>
  Effect.tryPromise({
    try: () => {
      batchThisTick(client)
      return client.call(command, ...args) as Promise<A>
    },
    catch: toError
  })

const corkers = new WeakMap<IORedis, () => void>()

/**
 * Makes the commands issued on `client` until the event loop's next check phase leave in one write: the socket
 * is corked at the first of them and uncorked by `setImmediate`. On this machine every write to a loopback socket
 * costs tens of microseconds, so one per command would dominate a worker's CPU.
 *
 * ioredis's own auto-pipelining batches at the same moment, through a `Pipeline` object per batch; those objects
 * keep one another alive through young-generation collections: in a worker at 1,000 updates/s about 6 MB were
 * promoted per scavenge, so old space filled every few seconds and the collections' pauses made the latency tail
 * (e2e p99 51-68 ms with it, 16 ms with this).
 */
export const batchThisTick = (client: IORedis): void => {
  let cork = corkers.get(client)
  if (cork === undefined) {
    let corked: IORedis["stream"] | undefined
    cork = () => {
      const socket = client.stream
      if (corked !== undefined || socket === undefined || client.status !== "ready") return
      corked = socket
      socket.cork()
      setImmediate(() => {
        corked = undefined
        socket.uncork()
      })
    }
    corkers.set(client, cork)
  }
  cork()
}

const connect = (client: IORedis) => Effect.tryPromise({ try: () => client.connect(), catch: toError })

/**
 * The shared ioredis client behind `Redis`, for the one path that cannot afford a fiber per command: the webhook
 * (see `UpdateIngest.appendNow`). Everything else goes through `Redis`.
 */
export class RedisClient extends Context.Service<RedisClient, IORedis>()("tg-gateway/layers/Redis/RedisClient") {}

/** Builds the service from a URL; the client closes with the layer's scope. */
export const make = Effect.fnUntraced(function*(url: string, pool?: Redis.PoolOptions) {
  const { redis } = yield* build(url, pool)
  return redis
})

const build = Effect.fnUntraced(function*(url: string, pool?: Redis.PoolOptions) {
  const client = yield* Effect.acquireRelease(
    Effect.sync(() => new IORedis(url, baseOptions)),
    (client) => Effect.sync(() => client.disconnect())
  )
  // ioredis emits `error` on every failed reconnect; without a listener Node would crash the process.
  client.on("error", () => {})
  yield* connect(client).pipe(
    Effect.mapError((error) =>
      new Redis.RedisError({ cause: new Error(`Redis does not answer at ${redactUrl(url)}: ${String(error.cause)}`) })
    )
  )
  const redis = yield* Redis.make({
    send: sendWith(client),
    connect: Effect.gen(function*() {
      const connection = client.duplicate({ ...baseOptions, enableAutoPipelining: false, retryStrategy: () => null })
      connection.on("error", () => {})
      yield* connect(connection).pipe(Effect.tapError(() => Effect.sync(() => connection.disconnect())))
      return { send: sendWith(connection), close: Effect.sync(() => connection.disconnect()) }
    }),
    subscribe: Effect.fnUntraced(function*(channel, onMessage) {
      const subscriber = yield* Effect.acquireRelease(
        Effect.sync(() => client.duplicate({ ...baseOptions, enableOfflineQueue: true })),
        (subscriber) => Effect.sync(() => subscriber.disconnect())
      )
      subscriber.on("error", () => {})
      subscriber.on("message", (channel: string, message: string) => onMessage({ channel, message }))
      yield* connect(subscriber)
      yield* Effect.tryPromise({ try: () => subscriber.subscribe(channel), catch: toError })
      return Effect.never
    }),
    pool: { maxConnections: 1100, ...pool }
  })
  return { redis, client }
})

const layerFrom = (url: Effect.Effect<string, Config.ConfigError>) =>
  Layer.effectContext(Effect.gen(function*() {
    const { redis, client } = yield* build(yield* url)
    return Context.make(Redis.Redis, redis).pipe(Context.add(RedisClient, client))
  }))

/** `Redis` (and its `RedisClient`) for `REDIS_URL`. */
export const layer = layerFrom(Effect.gen(function*() {
  return Redacted.value(yield* Env.redisUrl)
}))

/** `Redis` (and its `RedisClient`) for an explicit URL (tests, tools). */
export const layerUrl = (url: string) => layerFrom(Effect.succeed(url))

/** The URL without its password, for messages. */
export const redactUrl = (url: string): string => url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@")

/**
 * Effect's `RateLimiter` on this Redis, keys under `<REDIS_PREFIX>ratelimit:`: budgets shared by every process
 * (sign-in routes, promo-code attempts).
 */
export const rateLimiter = RateLimiter.layer.pipe(
  Layer.provide(Layer.unwrap(Effect.gen(function*() {
    return RateLimiter.layerStoreRedis({ prefix: `${yield* Env.redisPrefix}ratelimit:` })
  })))
)
