/**
 * Who reads which partition. Every worker process is a member: it heartbeats into a sorted set scored by
 * expiry (Redis server time, so clocks of different hosts never matter). The live members form a `HashRing`
 * whose balanced shard assignment says who should own each partition; adding or removing a process moves only
 * its share.
 *
 * Owning a partition means holding its lease (`SET NX PX`, renewed at a third of its lifetime) carrying a
 * fencing epoch that increases with every new owner. A partition that should move is first drained (reader
 * stopped, in-flight updates finished) and then released; its new owner claims whatever is still pending. A
 * lease that cannot be renewed stops the reader at once, and the epoch check in `ChatState.commit` keeps a
 * paused former owner from writing over its successor.
 */
import { Context, Deferred, Duration, Effect, Fiber, FiberMap, HashRing, Layer, Metric, PrimaryKey, Schedule } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Crypto from "node:crypto"
import * as Os from "node:os"
import * as Env from "../src/config.ts"
import * as Metrics from "../src/metrics.ts"
import { ChatActors } from "./ChatActors.ts"
import { Keys } from "./Keys.ts"
import { consume, maintain } from "./PartitionConsumer.ts"

/** KEYS: lease, epoch. ARGV: member, ttl ms. Returns the new epoch, or nil when someone holds the lease. */
const acquireScript = Redis.script((lease: string, epoch: string, member: string, ttl: number) =>
  [lease, epoch, member, ttl], {
  numberOfKeys: 2,
  lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local e = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. e, 'PX', ARGV[2])
return e`
}).withReturnType<number | null>()

/** KEYS: lease. ARGV: holder (`member|epoch`), ttl ms. 1 when renewed, 0 when the lease is not ours. */
const renewScript = Redis.script((lease: string, holder: string, ttl: number) => [lease, holder, ttl], {
  numberOfKeys: 1,
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`
}).withReturnType<number>()

/** KEYS: lease. ARGV: holder. Deletes the lease only if it is still ours. */
const releaseScript = Redis.script((lease: string, holder: string) => [lease, holder], {
  numberOfKeys: 1,
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`
}).withReturnType<number>()

const member = (id: string): PrimaryKey.PrimaryKey & { readonly id: string } => ({ id, [PrimaryKey.symbol]: () => id })

/** Which member should own each partition, given the live members. */
export const assignment = (members: ReadonlyArray<string>, partitions: number): ReadonlyArray<string> => {
  const ring = HashRing.make<ReturnType<typeof member>>()
  HashRing.addMany(ring, [...members].sort().map(member))
  return (HashRing.getShards(ring, partitions) ?? []).map((m) => m.id)
}

export class PartitionOwnership extends Context.Service<PartitionOwnership, {
  readonly memberId: string
  /** Partitions this process owns right now. */
  readonly owned: Effect.Effect<ReadonlyArray<number>>
}>()("tg-gateway/streams/PartitionOwnership") {
  static readonly layer = Layer.effect(PartitionOwnership)(
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = yield* Keys
      const leaseMs = yield* Env.leaseMs
      const memberId = `${Os.hostname()}-${process.pid}-${Crypto.randomBytes(4).toString("hex")}`
      const tick = Duration.millis(Math.floor(leaseMs / 3))
      const acquire = redis.eval(acquireScript)
      const renew = redis.eval(renewScript)
      const release = redis.eval(releaseScript)
      const context = yield* Effect.context<Redis.Redis | Keys | ChatActors>()

      /** Partition -> a signal that asks its owner fiber to hand it over. */
      const owned = new Map<number, Deferred.Deferred<void>>()
      const owners = yield* FiberMap.make<number>()

      const own = (partition: number, epoch: number, handOver: Deferred.Deferred<void>) =>
        Effect.gen(function*() {
          const holder = `${memberId}|${epoch}`
          const lease = keys.lease(partition)
          // The reader pauses once the lease might have expired (minus the longest blocking read and a margin).
          let safeUntil = (yield* Effect.clockWith((c) => c.currentTimeMillis)) + leaseMs - 1500
          const leaseSafe = Effect.clockWith((c) => c.currentTimeMillis).pipe(Effect.map((now) => now < safeUntil))
          yield* Effect.logInfo("partition acquired", { partition, epoch })
          const reader = yield* Effect.forkChild(consume({ partition, epoch, consumer: memberId, leaseSafe }))
          const upkeep = yield* Effect.forkChild(
            maintain(partition).pipe(Effect.repeat(Schedule.spaced("5 seconds")))
          )
          const renewal = Effect.gen(function*() {
            const started = yield* Effect.clockWith((c) => c.currentTimeMillis)
            const renewed = yield* renew(lease, holder, leaseMs).pipe(Effect.orElseSucceed(() => -1))
            if (renewed === 1) safeUntil = started + leaseMs - 1500
            return renewed
          }).pipe(
            Effect.repeat({ schedule: Schedule.spaced(tick), while: (renewed) => renewed !== 0 })
          )
          const outcome = yield* Effect.raceFirst(
            Effect.as(renewal, "lost" as const),
            Effect.as(Deferred.await(handOver), "hand_over" as const)
          )
          yield* Fiber.interruptAll([reader, upkeep])
          yield* Effect.logInfo("partition stopping", { partition, epoch, reason: outcome })
        }).pipe(
          Effect.provide(context),
          // On hand-over and on shutdown alike: finish what is in flight, then free the lease at once.
          Effect.ensuring(Effect.gen(function*() {
            const actors = yield* ChatActors
            yield* actors.drained(partition).pipe(Effect.timeout("30 seconds"), Effect.ignore)
            yield* release(keys.lease(partition), `${memberId}|${epoch}`).pipe(Effect.ignore)
            owned.delete(partition)
            yield* Metric.update(Metrics.partitionsOwned, owned.size)
          }).pipe(Effect.provide(context))),
          Effect.annotateLogs({ member: memberId })
        )

      const step = Effect.gen(function*() {
        const [seconds, micros] = yield* redis.send<[string, string]>("TIME")
        const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
        yield* redis.send("ZADD", keys.members, String(now + leaseMs), memberId)
        yield* redis.send("ZREMRANGEBYSCORE", keys.members, "-inf", String(now))
        const live = yield* redis.send<Array<string>>("ZRANGE", keys.members, "0", "-1")
        const wanted = assignment(live, keys.partitions)
        for (let partition = 0; partition < keys.partitions; partition++) {
          const handOver = owned.get(partition)
          const mine = wanted[partition] === memberId
          if (handOver !== undefined && !mine) yield* Deferred.succeed(handOver, undefined)
          if (handOver === undefined && mine) {
            const epoch = yield* acquire(keys.lease(partition), keys.epoch(partition), memberId, leaseMs)
            if (epoch === null) continue
            const signal = yield* Deferred.make<void>()
            owned.set(partition, signal)
            yield* FiberMap.run(owners, partition, own(partition, epoch, signal))
          }
        }
        yield* Metric.update(Metrics.partitionsOwned, owned.size)
      }).pipe(
        Effect.catch((error) => Effect.logWarning("membership: Redis error", { error: String(error.cause) }))
      )

      yield* step.pipe(Effect.repeat(Schedule.spaced(tick)), Effect.forkScoped)
      yield* Effect.addFinalizer(() =>
        Effect.andThen(
          FiberMap.clear(owners),
          redis.send("ZREM", keys.members, memberId).pipe(Effect.ignore)
        )
      )
      yield* Effect.logInfo("worker joined", { member: memberId, partitions: keys.partitions })

      return {
        memberId,
        owned: Effect.sync(() => [...owned.keys()].sort((a, b) => a - b))
      }
    })
  )
}
