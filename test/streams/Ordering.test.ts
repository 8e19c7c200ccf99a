/**
 * 10,000 updates over 500 chats, posted concurrently through the webhook with 10% duplicates and shuffled
 * arrival across chats: every chat's handler sees its updates exactly once and in `update_id` order.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { gatewayEnv, redisClient, testDatabase, testPrefix } from "../support/Infra.ts"
import { startGateway } from "../support/Gateway.ts"
import { recordingHandler } from "../support/RecordingHandler.ts"
import { awaitSeen, messageUpdate, plan, post } from "../support/Updates.ts"

describe("update pipeline ordering", () => {
  it.live("delivers each chat's updates exactly once, in update_id order", () =>
    Effect.gen(function*() {
      const prefix = yield* testPrefix("t-order")
      const databaseUrl = yield* testDatabase
      const total = 10_000
      const chats = plan(total, 500, 5_000_000)
      let handled = 0
      const allHandled = yield* Deferred.make<void>()
      const { url } = yield* startGateway({
        env: gatewayEnv({ prefix, databaseUrl, extra: { WORKER_MAX_IN_FLIGHT: "2000" } }),
        handler: recordingHandler({
          onHandled: () => {
            if (++handled === total) Deferred.doneUnsafe(allHandled, Effect.void)
          }
        })
      })

      let duplicates = 0
      const statuses = new Map<number, number>()
      yield* Effect.forEach(
        [...chats.entries()].sort(() => Math.random() - 0.5),
        ([chatId, ids]) =>
          Effect.forEach(ids, (id) =>
            Effect.gen(function*() {
              const first = yield* post(url, messageUpdate(id, chatId))
              statuses.set(first.status, (statuses.get(first.status) ?? 0) + 1)
              if (Math.random() < 0.1) {
                duplicates++
                const again = yield* post(url, messageUpdate(id, chatId))
                assert.strictEqual(again.status, 200)
              }
            }), { discard: true }),
        { concurrency: 64, discard: true }
      )
      assert.deepStrictEqual([...statuses.entries()], [[200, total]])
      assert.isAbove(duplicates, 500)

      yield* Deferred.await(allHandled).pipe(Effect.timeout("90 seconds"))
      const client = yield* redisClient()
      const seen = yield* awaitSeen(client, prefix, 8, chats)
      for (const [chatId, ids] of chats) assert.deepStrictEqual(seen.get(chatId), ids, `chat ${chatId}`)
      assert.strictEqual(handled, total)
    }), { timeout: 180_000 })
})
