/**
 * A handler that throws on one update: after the configured attempts that update lands in the dead-letter
 * stream with its error, and later updates of the same chat and of other chats still flow.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { Keys } from "../../streams/Keys.ts"
import { gatewayEnv, redisClient, testDatabase, testPrefix } from "../support/Infra.ts"
import { startGateway } from "../support/Gateway.ts"
import { recordingHandler } from "../support/RecordingHandler.ts"
import { messageUpdate, post, seenByChat } from "../support/Updates.ts"

describe("dead letters", () => {
  it.live("dead-letters a failing update after its retries and keeps every chat flowing", () =>
    Effect.gen(function*() {
      const prefix = yield* testPrefix("t-dlq")
      const databaseUrl = yield* testDatabase
      let handled = 0
      let attemptsOnPoison = 0
      const done = yield* Deferred.make<void>()
      const { url } = yield* startGateway({
        env: gatewayEnv({
          prefix,
          databaseUrl,
          extra: { HANDLER_MAX_ATTEMPTS: "3", HANDLER_RETRY_BASE_MS: "10" }
        }),
        handler: recordingHandler({
          poison: new Set([104]),
          onPoison: () => attemptsOnPoison++,
          onHandled: () => ++handled === 19 && Deferred.doneUnsafe(done, Effect.void)
        })
      })
      for (let i = 0; i < 10; i++) {
        assert.strictEqual((yield* post(url, messageUpdate(100 + i, 1))).status, 200)
        assert.strictEqual((yield* post(url, messageUpdate(200 + i, 2))).status, 200)
      }
      yield* Deferred.await(done).pipe(Effect.timeout("30 seconds"))

      const client = yield* redisClient()
      const seen = yield* seenByChat(client, prefix, 8, [1, 2])
      assert.deepStrictEqual(seen.get(1), [100, 101, 102, 103, 105, 106, 107, 108, 109])
      assert.deepStrictEqual(seen.get(2), [200, 201, 202, 203, 204, 205, 206, 207, 208, 209])
      assert.strictEqual(attemptsOnPoison, 3)

      const dead = yield* Effect.promise(() => client.xrange(Keys.make(prefix, 8).deadLetter, "-", "+"))
      assert.strictEqual(dead.length, 1)
      const fields = Object.fromEntries(
        dead[0]![1].flatMap((value, i, all) => i % 2 === 0 ? [[value, all[i + 1]!]] : [])
      )
      assert.strictEqual(JSON.parse(fields.update!).update_id, 104)
      assert.strictEqual(fields.error, "poison update 104")
      assert.strictEqual(fields.attempts, "3")
      assert.strictEqual(fields.chat, "1")
    }), { timeout: 60_000 })
})
