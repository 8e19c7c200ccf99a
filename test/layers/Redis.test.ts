/**
 * The Redis layer batches the commands of one tick into one write (a corked socket): every command is still
 * answered, in the order it was issued, whether it came alone or with hundreds of others, through the `Redis`
 * service or the raw client.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as RedisLayer from "../../layers/Redis.ts"
import { redisUrl, testPrefix } from "../support/Infra.ts"

const setup = Effect.gen(function*() {
  const context = yield* Layer.build(RedisLayer.layerUrl(redisUrl))
  return { redis: Context.get(context, Redis.Redis), client: Context.get(context, RedisLayer.RedisClient) }
})

describe("Redis layer", () => {
  it.live("answers every command of one tick, in order", () =>
    Effect.gen(function*() {
      const { redis } = yield* setup
      const key = `${yield* testPrefix("t-cork")}n`
      const replies = yield* Effect.all(
        Array.from({ length: 300 }, () => redis.send<number>("INCR", key)),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(replies, Array.from({ length: 300 }, (_, i) => i + 1))
      // Alone, in a later tick: the socket was uncorked.
      assert.strictEqual(yield* redis.send<number>("INCR", key), 301)
    }))

  it.live("batches the raw client's commands the same way", () =>
    Effect.gen(function*() {
      const { client } = yield* setup
      const key = `${yield* testPrefix("t-cork-raw")}n`
      const replies = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 50 }, () => {
          RedisLayer.batchThisTick(client)
          return client.incr(key)
        }))
      )
      assert.deepStrictEqual(replies, Array.from({ length: 50 }, (_, i) => i + 1))
    }))
})
