/**
 * A handler that throws on one update: after the configured attempts that update lands in the dead-letter
 * stream with its error, and later updates of the same chat and of other chats still flow. An operator can list
 * it and, once the cause is fixed, replay it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { Deferred, Effect } from "effect"
import { Keys } from "../../streams/Keys.ts"
import { gatewayEnv, redisClient, testDatabase, testPrefix } from "../support/Infra.ts"
import { startGateway } from "../support/Gateway.ts"
import { recordingHandler } from "../support/RecordingHandler.ts"
import { awaitSeen, messageUpdate, post } from "../support/Updates.ts"

describe("dead letters", () => {
  it.live("dead-letters a failing update after its retries and keeps every chat flowing", () =>
    Effect.gen(function*() {
      const prefix = yield* testPrefix("t-dlq")
      const databaseUrl = yield* testDatabase
      let handled = 0
      let attemptsOnPoison = 0
      const poison = new Set([104])
      const done = yield* Deferred.make<void>()
      const replayed = yield* Deferred.make<void>()
      const { url } = yield* startGateway({
        env: gatewayEnv({
          prefix,
          databaseUrl,
          extra: { HANDLER_MAX_ATTEMPTS: "3", HANDLER_RETRY_BASE_MS: "10" }
        }),
        handler: recordingHandler({
          poison,
          onPoison: () => attemptsOnPoison++,
          onHandled: () => {
            handled++
            if (handled === 19) Deferred.doneUnsafe(done, Effect.void)
            if (handled === 20) Deferred.doneUnsafe(replayed, Effect.void)
          }
        })
      })
      for (let i = 0; i < 10; i++) {
        assert.strictEqual((yield* post(url, messageUpdate(100 + i, 1))).status, 200)
        assert.strictEqual((yield* post(url, messageUpdate(200 + i, 2))).status, 200)
      }
      yield* Deferred.await(done).pipe(Effect.timeout("30 seconds"))

      const client = yield* redisClient()
      const flowing = new Map([
        [1, [100, 101, 102, 103, 105, 106, 107, 108, 109]],
        [2, [200, 201, 202, 203, 204, 205, 206, 207, 208, 209]]
      ])
      const seen = yield* awaitSeen(client, prefix, 8, flowing)
      assert.deepStrictEqual(seen, flowing)
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

      // The operator lists it, fixes the cause, and replays it: it is handled, and leaves the dead letters.
      const cli = (...args: Array<string>) =>
        ChildProcess.execFileSync(process.execPath, ["src/cli/deadLetters.ts", ...args], {
          cwd: Path.join(import.meta.dirname, "..", ".."),
          env: { ...process.env, REDIS_PREFIX: prefix, PARTITIONS: "8" },
          encoding: "utf8"
        })
      const listed = cli("list").trim().split("\n").map((line) => JSON.parse(line) as { id: string; update_id: number })
      assert.deepStrictEqual(listed.map((l) => [l.id, l.update_id]), [[dead[0]![0], 104]])
      poison.delete(104)
      assert.match(cli("replay", dead[0]![0]), /^replayed into partition \d+ as \d+-\d+/)
      yield* Deferred.await(replayed).pipe(Effect.timeout("30 seconds"))
      const replayedSeen = new Map([[1, [100, 101, 102, 103, 105, 106, 107, 108, 109, 104]]])
      assert.deepStrictEqual(yield* awaitSeen(client, prefix, 8, replayedSeen), replayedSeen)
      assert.strictEqual(cli("list").trim(), "")
    }), { timeout: 60_000 })
})
