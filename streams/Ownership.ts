/**
 * Who works on which partition, for any partitioned stream (the update stream for workers, the outbox for
 * senders). Every process of a role is a member: it heartbeats into a sorted set scored by expiry (Redis
 * server time, so clocks of different hosts never matter). The live members form a `HashRing` whose balanced
 * shard assignment says who should own each partition; adding or removing a process moves only its share.
 *
 * Owning a partition means holding its lease (`SET NX PX`, renewed at a third of its lifetime) carrying a
 * fencing epoch that increases with every new owner. A partition that should move is first drained (reader
 * stopped, in-flight work finished) and then released; its new owner claims whatever is still pending. A
 * lease that cannot be renewed stops the reader at once.
 */
import { Deferred, Duration, Effect, Fiber, FiberMap, HashRing, Metric, PrimaryKey, Schedule, type Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Crypto from "node:crypto"
import * as Os from "node:os"
import * as Metrics from "../src/metrics.ts"

/** One owned partition, as its reader sees it. */
export type Ownership = {
  readonly partition: number
  readonly epoch: number
  readonly consumer: string
  /** False once the lease may have expired: the reader pauses rather than take entries it may not own. */
  readonly leaseSafe: Effect.Effect<boolean>
}

export type OwnershipSpec = {
  /** The role, in logs and in `tg_partitions_owned{role}`. */
  readonly name: string
  readonly partitions: number
  readonly members: string
  readonly lease: (partition: number) => string
  readonly epoch: (partition: number) => string
  readonly leaseMs: number
  /** The partition's work while it is owned; interrupted on hand-over or when the lease is lost. */
  readonly run: (own: Ownership) => Effect.Effect<void, unknown>
  /** Waits until nothing of the partition is in flight (before the lease is released). */
  readonly drained: (partition: number) => Effect.Effect<void>
}

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

/** Joins the members of `spec` and keeps owning this process's share of the partitions while the scope lives. */
export const makeOwnership = (spec: OwnershipSpec): Effect.Effect<{
  readonly memberId: string
  readonly owned: Effect.Effect<ReadonlyArray<number>>
}, never, Redis.Redis | Scope.Scope> =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const leaseMs = spec.leaseMs
    const memberId = `${Os.hostname()}-${process.pid}-${Crypto.randomBytes(4).toString("hex")}`
    const tick = Duration.millis(Math.floor(leaseMs / 3))
    const acquire = redis.eval(acquireScript)
    const renew = redis.eval(renewScript)
    const release = redis.eval(releaseScript)

    /** Partition -> a signal that asks its owner fiber to hand it over. */
    const owned = new Map<number, Deferred.Deferred<void>>()
    const owners = yield* FiberMap.make<number>()

    const own = (partition: number, epoch: number, handOver: Deferred.Deferred<void>) =>
      Effect.gen(function*() {
        const holder = `${memberId}|${epoch}`
        const lease = spec.lease(partition)
        // The reader pauses once the lease might have expired (minus the longest blocking read and a margin).
        let safeUntil = (yield* Effect.clockWith((c) => c.currentTimeMillis)) + leaseMs - 1500
        const leaseSafe = Effect.clockWith((c) => c.currentTimeMillis).pipe(Effect.map((now) => now < safeUntil))
        yield* Effect.logInfo("partition acquired", { partition, epoch })
        const worker = yield* Effect.forkChild(spec.run({ partition, epoch, consumer: memberId, leaseSafe }))
        const renewal = Effect.gen(function*() {
          const started = yield* Effect.clockWith((c) => c.currentTimeMillis)
          const renewed = yield* renew(lease, holder, leaseMs).pipe(Effect.orElseSucceed(() => -1))
          if (renewed === 1) safeUntil = started + leaseMs - 1500
          return renewed
        }).pipe(
          Effect.repeat({ schedule: Schedule.spaced(tick), while: (renewed) => renewed !== 0 })
        )
        // A reader that stops on its own (it should not) gives the partition back, so another process takes it.
        // On every way out (shutdown interrupts this fiber) the reader is stopped first, before the partition is
        // drained and released: it must not read what the next owner will own.
        const outcome = yield* Effect.raceAllFirst([
          Effect.as(renewal, "lost" as const),
          Effect.as(Deferred.await(handOver), "hand_over" as const),
          Fiber.await(worker).pipe(
            Effect.tap((exit) => Effect.logError("partition reader stopped", { exit: String(exit) })),
            Effect.as("reader_stopped" as const)
          )
        ]).pipe(Effect.ensuring(Fiber.interrupt(worker)))
        yield* Effect.logInfo("partition stopping", { partition, epoch, reason: outcome })
      }).pipe(
        // On hand-over and on shutdown alike: finish what is in flight, then free the lease at once.
        Effect.ensuring(Effect.gen(function*() {
          yield* spec.drained(partition).pipe(Effect.timeout("30 seconds"), Effect.ignore)
          yield* release(spec.lease(partition), `${memberId}|${epoch}`).pipe(Effect.ignore)
          owned.delete(partition)
          yield* Metric.update(Metrics.partitionsOwned(spec.name), owned.size)
        })),
        Effect.annotateLogs({ member: memberId })
      )

    const step = Effect.gen(function*() {
      const [seconds, micros] = yield* redis.send<[string, string]>("TIME")
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
      yield* redis.send("ZADD", spec.members, String(now + leaseMs), memberId)
      yield* redis.send("ZREMRANGEBYSCORE", spec.members, "-inf", String(now))
      const live = yield* redis.send<Array<string>>("ZRANGE", spec.members, "0", "-1")
      const wanted = assignment(live, spec.partitions)
      for (let partition = 0; partition < spec.partitions; partition++) {
        const handOver = owned.get(partition)
        const mine = wanted[partition] === memberId
        if (handOver !== undefined && !mine) yield* Deferred.succeed(handOver, undefined)
        if (handOver === undefined && mine) {
          const epoch = yield* acquire(spec.lease(partition), spec.epoch(partition), memberId, leaseMs)
          if (epoch === null) continue
          const signal = yield* Deferred.make<void>()
          owned.set(partition, signal)
          yield* FiberMap.run(owners, partition, own(partition, epoch, signal))
        }
      }
      yield* Metric.update(Metrics.partitionsOwned(spec.name), owned.size)
    }).pipe(
      Effect.catch((error) => Effect.logWarning("membership: Redis error", { error: String(error.cause) }))
    )

    yield* step.pipe(Effect.repeat(Schedule.spaced(tick)), Effect.forkScoped)
    yield* Effect.addFinalizer(() =>
      Effect.andThen(
        FiberMap.clear(owners),
        redis.send("ZREM", spec.members, memberId).pipe(Effect.ignore)
      )
    )
    yield* Effect.logInfo(`${spec.name} joined`, { member: memberId, partitions: spec.partitions })

    return {
      memberId,
      owned: Effect.sync(() => [...owned.keys()].sort((a, b) => a - b))
    }
  })
