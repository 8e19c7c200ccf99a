/**
 * Partition ownership: members split the partitions between them without overlap, a member that joins takes
 * only its share, a member that leaves hands its partitions over; a stale epoch can never commit; trimming
 * never drops an entry that is not acknowledged.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as RedisLayer from "../../layers/Redis.ts"
import { ChatState } from "../../services/ChatState.ts"
import { Keys } from "../../streams/Keys.ts"
import { maintain } from "../../streams/PartitionConsumer.ts"
import { assignment, PartitionOwnership } from "../../streams/PartitionOwnership.ts"
import { config, gatewayEnv, redisClient, redisUrl, testDatabase, testPrefix } from "../support/Infra.ts"
import { eventually } from "../support/Processes.ts"
import { recordingHandler } from "../support/RecordingHandler.ts"
import * as Roles from "../../layers/Roles.ts"
import * as Telemetry from "../../layers/Telemetry.ts"

const partitions = 12

/** A worker in its own scope, so the test can stop it while others run. */
const member = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      Roles.worker(recordingHandler()).pipe(
        Layer.provide(Roles.infrastructure),
        Layer.provide(Telemetry.layer),
        Layer.provide(config(env))
      ),
      scope
    )
    return { ownership: Context.get(context, PartitionOwnership), stop: Scope.close(scope, Exit.void) }
  })

describe("partition ownership", () => {
  it("assigns every partition to one member, balanced, moving little more than a joiner's share", () => {
    const two = assignment(["a", "b"], 16)
    const three = assignment(["a", "b", "c"], 16)
    assert.strictEqual(two.length, 16)
    assert.deepStrictEqual(new Set(two), new Set(["a", "b"]))
    assert.deepStrictEqual(assignment(["b", "a"], 16), two, "independent of the order members are listed in")
    const counts = ["a", "b", "c"].map((m) => three.filter((owner) => owner === m).length)
    assert.isAtMost(Math.max(...counts) - Math.min(...counts), 1)
    const moved = two.filter((owner, p) => three[p] !== owner).length
    assert.isAtMost(moved, counts[2]! + 2)
  })

  it.live("splits partitions between members, rebalances on join and hands over on leave", () =>
    Effect.gen(function*() {
      const prefix = yield* testPrefix("t-own")
      const env = gatewayEnv({
        prefix,
        databaseUrl: yield* testDatabase,
        extra: { PARTITIONS: String(partitions), PARTITION_LEASE_MS: "3000" }
      })
      const first = yield* member(env)
      yield* eventually("the first member owns everything", Effect.map(first.ownership.owned, (o) => o.length === partitions))
      const second = yield* member(env)
      const split = Effect.gen(function*() {
        const a = yield* first.ownership.owned
        const b = yield* second.ownership.owned
        return a.length > 0 && b.length > 0 && a.length + b.length === partitions && a.every((p) => !b.includes(p))
      })
      yield* eventually("both members own disjoint shares covering all partitions", split)
      const expected = assignment([first.ownership.memberId, second.ownership.memberId], partitions)
      assert.deepStrictEqual(
        yield* second.ownership.owned,
        expected.flatMap((owner, p) => owner === second.ownership.memberId ? [p] : [])
      )
      yield* first.stop
      yield* eventually("the remaining member owns everything", Effect.map(second.ownership.owned, (o) => o.length === partitions), 10_000)
      yield* second.stop
    }), { timeout: 60_000 })

  it.live("refuses a commit under a stale epoch, and trims only acknowledged entries", () =>
    Effect.gen(function*() {
      const prefix = yield* testPrefix("t-fence")
      const context = yield* Layer.build(
        ChatState.layer.pipe(
          Layer.provideMerge(Layer.mergeAll(RedisLayer.layerUrl(redisUrl), Keys.layer)),
          Layer.provide(config({ REDIS_PREFIX: prefix, PARTITIONS: "4" }))
        )
      )
      const state = Context.get(context, ChatState)
      const redis = Context.get(context, Redis.Redis)
      const keys = Context.get(context, Keys)
      const client = yield* redisClient()
      const stream = keys.stream(0)
      yield* redis.send("XGROUP", "CREATE", stream, keys.group, "0", "MKSTREAM")
      const ids: Array<string> = []
      for (let i = 0; i < 5; i++) ids.push(yield* redis.send<string>("XADD", stream, "*", "update", `{"update_id":${i}}`))
      yield* redis.send("XREADGROUP", "GROUP", keys.group, "c", "COUNT", "5", "STREAMS", stream, ">")
      yield* redis.send("SET", keys.epoch(0), "2")

      const stale = yield* state.commit({ partition: 0, epoch: 1, chatId: 5, entryId: ids[0]!, record: { lastEntryId: ids[0]!, session: { x: 1 } } })
      assert.isFalse(stale)
      assert.isTrue(Option.isNone(yield* state.load(0, 5)))
      const current = yield* state.commit({ partition: 0, epoch: 2, chatId: 5, entryId: ids[0]!, record: { lastEntryId: ids[0]!, session: { x: 2 } } })
      assert.isTrue(current)
      assert.deepStrictEqual(yield* state.load(0, 5), Option.some({ lastEntryId: ids[0]!, session: { x: 2 } }))
      yield* state.commit({ partition: 0, epoch: 2, chatId: 5, entryId: ids[1]!, record: undefined })

      // ids[2..4] are delivered but not acknowledged: trimming must keep them.
      yield* maintain(0).pipe(Effect.provide(context))
      const left = (yield* Effect.promise(() => client.xrange(stream, "-", "+"))).map(([id]) => id)
      assert.includeMembers(left, ids.slice(2))
      const pending = (yield* Effect.promise(() => client.xpending(stream, keys.group))) as [number]
      assert.strictEqual(pending[0], 3)
    }))
})
