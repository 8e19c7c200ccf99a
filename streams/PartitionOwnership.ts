/**
 * Who reads which partition of the update stream: the worker role's membership (see `Ownership`). A paused
 * former owner cannot write over its successor: the epoch check in `ChatState.commit` refuses it.
 */
import { Context, Effect, Layer, Schedule } from "effect"
import type * as Redis from "effect/persistence/Redis"
import * as Env from "../src/config.ts"
import { ChatActors } from "./ChatActors.ts"
import { Keys } from "./Keys.ts"
import { makeOwnership } from "./Ownership.ts"
import { consume, maintain, makeSharedReader } from "./PartitionConsumer.ts"

export { assignment } from "./Ownership.ts"

export class PartitionOwnership extends Context.Service<PartitionOwnership, {
  readonly memberId: string
  /** Partitions this process owns right now. */
  readonly owned: Effect.Effect<ReadonlyArray<number>>
}>()("tg-gateway/streams/PartitionOwnership") {
  static readonly layer = Layer.effect(PartitionOwnership)(
    Effect.gen(function*() {
      const keys = yield* Keys
      const actors = yield* ChatActors
      const context = yield* Effect.context<Keys | ChatActors | Redis.Redis>()
      // Made before the membership, so that it is still reading while partitions leave on shutdown.
      const shared = yield* makeSharedReader({
        group: keys.group,
        reserve: actors.reserve,
        unreserve: actors.unreserve,
        dispatch: actors.dispatch,
        maxInFlight: yield* Env.maxInFlight
      })
      return yield* makeOwnership({
        name: "worker",
        partitions: keys.partitions,
        members: keys.members,
        lease: keys.lease,
        epoch: keys.epoch,
        leaseMs: yield* Env.leaseMs,
        run: (own) =>
          Effect.all([
            consume(own, shared),
            maintain(own.partition).pipe(Effect.repeat(Schedule.spaced("5 seconds")))
          ], { concurrency: "unbounded", discard: true }).pipe(Effect.provide(context)),
        drained: actors.drained
      })
    })
  )
}
