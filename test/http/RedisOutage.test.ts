/**
 * Redis stops while Telegram is posting: the webhook answers 503 (Telegram retries) and writes nothing half;
 * once Redis is back, every update that was answered 200 is processed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { gatewayEnv, redisClient, testDatabase, uniqueId } from "../support/Infra.ts"
import { startGateway } from "../support/Gateway.ts"
import { privateRedis } from "../support/RedisServer.ts"
import { recordingHandler } from "../support/RecordingHandler.ts"
import { awaitSeen, messageUpdate, post } from "../support/Updates.ts"

describe("Redis outage", () => {
  it.live("answers 503 while Redis is down, and processes every update answered 200 after it returns", () =>
    Effect.gen(function*() {
      const redis = yield* privateRedis
      const prefix = `${uniqueId("t-outage")}:`
      const databaseUrl = yield* testDatabase
      const env = gatewayEnv({ prefix, databaseUrl, extra: { REDIS_URL: redis.url } })
      const { url } = yield* startGateway({ env })

      const accepted = new Map<number, Array<number>>()
      const accept = (updateId: number, chatId: number) =>
        accepted.set(chatId, [...(accepted.get(chatId) ?? []), updateId])
      const chatOf = (updateId: number) => 100 + (updateId % 5)

      for (let id = 1; id <= 50; id++) {
        assert.strictEqual((yield* post(url, messageUpdate(id, chatOf(id)))).status, 200)
        accept(id, chatOf(id))
      }

      yield* redis.stop
      const during = yield* post(url, messageUpdate(51, chatOf(51)))
      assert.strictEqual(during.status, 503)
      assert.strictEqual(JSON.parse(during.body).error.code, "queue_unavailable")

      yield* redis.start
      // Telegram keeps retrying the update it got a 503 for, then moves on.
      let status = 0
      for (let attempt = 0; attempt < 100 && status !== 200; attempt++) {
        status = (yield* post(url, messageUpdate(51, chatOf(51)))).status
        if (status !== 200) yield* Effect.sleep("50 millis")
      }
      assert.strictEqual(status, 200)
      accept(51, chatOf(51))
      for (let id = 52; id <= 60; id++) {
        assert.strictEqual((yield* post(url, messageUpdate(id, chatOf(id)))).status, 200)
        accept(id, chatOf(id))
      }

      let handled = 0
      const done = yield* Deferred.make<void>()
      yield* startGateway({
        env,
        http: false,
        handler: recordingHandler({ onHandled: () => ++handled === 60 && Deferred.doneUnsafe(done, Effect.void) })
      })
      yield* Deferred.await(done).pipe(Effect.timeout("30 seconds"))
      const client = yield* redisClient(redis.url)
      const seen = yield* awaitSeen(client, prefix, 8, accepted)
      for (const [chatId, ids] of accepted) assert.deepStrictEqual(seen.get(chatId), ids)
    }), { timeout: 90_000 })
})
