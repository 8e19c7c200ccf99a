/**
 * Long-polling mode: the gateway deletes the webhook first (Telegram refuses getUpdates while one is set), then
 * feeds getUpdates into the same stream as the webhook: each update handled once, in order per chat.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer } from "effect"
import { Emulator, UpdateBuilders } from "../../src/emulator/index.ts"
import { gatewayEnv, redisClient, testDatabase, testPrefix } from "../support/Infra.ts"
import { startGateway } from "../support/Gateway.ts"
import { recordingHandler } from "../support/RecordingHandler.ts"
import { awaitSeen } from "../support/Updates.ts"

describe("getUpdates poller", () => {
  it.live("deletes the webhook, then feeds polled updates into the pipeline", () =>
    Effect.gen(function*() {
      const emulator = Context.get(yield* Layer.build(Emulator.layer()), Emulator)
      yield* Effect.promise(() =>
        fetch(`${emulator.url}/bot${emulator.token}/setWebhook`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ url: "https://example.invalid/telegram/webhook" })
        })
      )
      const updateIds: Array<{ chatId: number; updateId: number }> = []
      for (let i = 0; i < 30; i++) {
        const chatId = 800 + (i % 3)
        const update = yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId, text: `m${i}` }))
        updateIds.push({ chatId, updateId: update.update_id })
      }

      const prefix = yield* testPrefix("t-poll")
      const databaseUrl = yield* testDatabase
      let handled = 0
      const done = yield* Deferred.make<void>()
      yield* startGateway({
        env: gatewayEnv({
          prefix,
          databaseUrl,
          apiRoot: emulator.url,
          extra: { BOT_TOKEN: emulator.token, UPDATES_MODE: "polling", WEBHOOK_SECRET: "" }
        }),
        handler: recordingHandler({ onHandled: () => ++handled === 30 && Deferred.doneUnsafe(done, Effect.void) })
      })
      yield* Deferred.await(done).pipe(Effect.timeout("30 seconds"))

      assert.strictEqual((yield* emulator.webhookInfo()).url, "")
      const methods = (yield* emulator.calls).map((c) => c.method)
      assert.isBelow(methods.indexOf("deleteWebhook"), methods.indexOf("getUpdates"))
      const client = yield* redisClient()
      const expected = new Map([800, 801, 802].map((chatId) =>
        [chatId, updateIds.filter((u) => u.chatId === chatId).map((u) => u.updateId)] as const
      ))
      assert.deepStrictEqual(yield* awaitSeen(client, prefix, 8, expected), expected)
    }))
})
