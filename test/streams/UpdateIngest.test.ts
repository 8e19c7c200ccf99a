/**
 * The producer side: updates that arrive in the same turn of the event loop are appended by one script call,
 * each deduplicated and appended on its own, in arrival order per partition; a failed call fails each of them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as RedisLayer from "../../layers/Redis.ts"
import { Keys } from "../../streams/Keys.ts"
import { type AppendResult, UpdateIngest } from "../../streams/UpdateIngest.ts"
import { config, redisClient, redisUrl, testPrefix } from "../support/Infra.ts"

const partitions = 4

const setup = (url = redisUrl) =>
  Effect.gen(function*() {
    const prefix = yield* testPrefix("t-ingest")
    const env = { REDIS_PREFIX: prefix, REDIS_URL: url, PARTITIONS: String(partitions) }
    const ingest = Context.get(
      yield* Layer.build(UpdateIngest.layer.pipe(
        Layer.provide(Layer.mergeAll(RedisLayer.layerUrl(url), Keys.layer)),
        Layer.provide(config(env))
      )),
      UpdateIngest
    )
    return { ingest, keys: Keys.make(prefix, partitions) }
  })

const raw = (updateId: number, chatId: number) =>
  JSON.stringify({ update_id: updateId, message: { message_id: updateId, date: 0, chat: { id: chatId, type: "private" }, text: "x" } })

describe("update ingest", () => {
  it.live("appends updates of one turn in one call, each deduplicated on its own and in arrival order", () =>
    Effect.gen(function*() {
      const { ingest, keys } = yield* setup()
      const client = yield* redisClient()
      // 30 updates over 6 chats, each posted twice in the same turn, and one update already queued before.
      const first = yield* Effect.promise(() => ingest.appendNow({ updateId: 1000, chatId: 1 }, raw(1000, 1), ""))
      assert.strictEqual(first._tag, "Queued")
      const posts: Array<{ readonly updateId: number; readonly chatId: number }> = []
      for (let i = 0; i < 30; i++) posts.push({ updateId: 1001 + i, chatId: 1 + (i % 6) })
      const calls = [...posts, ...posts, { updateId: 1000, chatId: 1 }]
      const results: ReadonlyArray<AppendResult> = yield* Effect.promise(() =>
        Promise.all(calls.map((u) => ingest.appendNow(u, raw(u.updateId, u.chatId), "")))
      )
      assert.deepStrictEqual(results.slice(0, 30).map((r) => r._tag), Array(30).fill("Queued"))
      assert.deepStrictEqual(results.slice(30).map((r) => r._tag), Array(31).fill("Duplicate"))
      // Each partition's stream holds its updates once, in the order they were posted.
      for (let p = 0; p < partitions; p++) {
        const entries = yield* Effect.promise(() => client.xrange(keys.stream(p), "-", "+"))
        const ids = entries.map(([, fields]) => (JSON.parse(fields[fields.indexOf("update") + 1]!) as { update_id: number }).update_id)
        const expected = [{ updateId: 1000, chatId: 1 }, ...posts].filter((u) => keys.partitionOf(u.chatId) === p).map((u) => u.updateId)
        assert.deepStrictEqual(ids, expected)
      }
    }).pipe(Effect.scoped))

  it.live("a call that fails fails each of its updates; posted again, each is queued exactly once", () =>
    Effect.gen(function*() {
      const { ingest, keys } = yield* setup()
      const client = yield* redisClient()
      const chats = [...Array(40).keys()].map((i) => i + 1)
      const broken = keys.partitionOf(chats[5]!)
      // A key of the wrong type where one partition's stream should be: its XADD fails mid-call.
      yield* Effect.promise(() => client.set(keys.stream(broken), "not a stream"))
      const posts = chats.map((chatId, i) => ({ updateId: 2000 + i, chatId }))
      const append = () =>
        Promise.allSettled(posts.map((u) => ingest.appendNow(u, raw(u.updateId, u.chatId), "")))
      const failed = yield* Effect.promise(append)
      assert.isTrue(failed.every((r) => r.status === "rejected"))
      for (const r of failed) if (r.status === "rejected") assert.strictEqual((r.reason as { _tag: string })._tag, "RedisError")
      // Posted again (as Telegram does after a 503), once the stream is usable: the updates the failed call
      // appended before it stopped are duplicates now, the others are queued; none is lost or queued twice.
      yield* Effect.promise(() => client.del(keys.stream(broken)))
      const again = yield* Effect.promise(append)
      assert.isTrue(again.every((r) => r.status === "fulfilled"))
      const queued = again.filter((r) => r.status === "fulfilled" && r.value._tag === "Queued").length
      assert.isTrue(queued > 0 && queued < posts.length, `queued ${queued} of ${posts.length} on the second call`)
      const seen: Array<number> = []
      for (let p = 0; p < partitions; p++) {
        const entries = yield* Effect.promise(() => client.xrange(keys.stream(p), "-", "+"))
        for (const [, fields] of entries) {
          seen.push((JSON.parse(fields[fields.indexOf("update") + 1]!) as { update_id: number }).update_id)
        }
      }
      assert.deepStrictEqual(seen.sort((a, b) => a - b), posts.map((u) => u.updateId))
    }).pipe(Effect.scoped))
})
