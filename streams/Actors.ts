/**
 * What the chat actors (updates) and the outbox actors (messages) share: in-flight slots that a stream reader
 * takes before reading, a count of entries in flight per partition (to let a partition go once it is drained),
 * and mailboxes: one fiber per key with its own queue, handling its entries one at a time, passivated when idle.
 */
import { Deferred, type Duration, Effect, FiberMap, Option, Queue, type Scope, Semaphore } from "effect"

/** At most `max` entries in flight: when every slot is taken the reader stops reading (Redis is the buffer). */
export const makeSlots = (max: number) =>
  Effect.map(Semaphore.make(max), (permits) => ({
    /** Waits for at least one slot and takes up to `wanted`; returns how many were taken. */
    reserve: (wanted: number) =>
      Effect.gen(function*() {
        yield* permits.take(1)
        let taken = 1
        while (taken < wanted && (yield* permits.takeIfAvailable(1))) taken++
        return taken
      }),
    unreserve: (n: number) => Effect.asVoid(permits.release(n))
  }))

/** Entries in flight per partition. */
export const makePartitionTracker = () => {
  const inFlight = new Map<number, number>()
  const waiters = new Map<number, Array<Deferred.Deferred<void>>>()
  return {
    started: (partition: number) => {
      inFlight.set(partition, (inFlight.get(partition) ?? 0) + 1)
    },
    finished: (partition: number) =>
      Effect.suspend(() => {
        const left = (inFlight.get(partition) ?? 1) - 1
        inFlight.set(partition, left)
        const waiting = left === 0 ? waiters.get(partition) : undefined
        if (waiting === undefined) return Effect.void
        waiters.delete(partition)
        return Effect.forEach(waiting, (d) => Deferred.succeed(d, undefined), { discard: true })
      }),
    /** Waits until no entry of `partition` is in flight. */
    drained: (partition: number) =>
      Effect.suspend(() => {
        if ((inFlight.get(partition) ?? 0) === 0) return Effect.void
        const waiter = Deferred.makeUnsafe<void>()
        waiters.set(partition, [...(waiters.get(partition) ?? []), waiter])
        return Deferred.await(waiter)
      })
  }
}

/**
 * One fiber per key, each with its own queue, handling its entries one at a time in the order they were
 * posted; different keys run concurrently. An actor idle for `idle` is passivated. A key's posts must not race
 * each other (each comes from its partition's one reader).
 */
export const makeMailboxes = <K, E>(options: {
  readonly idle: Duration.Duration
  readonly handle: (entry: E) => Effect.Effect<void>
  /** Runs when an actor starts and when it stops (e.g. a gauge of live actors, a cache of its key's state). */
  readonly started?: Effect.Effect<void>
  readonly stopped?: (key: K) => Effect.Effect<void>
}): Effect.Effect<{ readonly post: (key: K, entry: E) => Effect.Effect<void> }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const fibers = yield* FiberMap.make<K>()
    const queues = new Map<K, Queue.Queue<E>>()

    const actor = (key: K, queue: Queue.Queue<E>): Effect.Effect<void> =>
      Queue.take(queue).pipe(
        Effect.timeoutOption(options.idle),
        Effect.flatMap(Option.match({
          onSome: (entry) => Effect.as(options.handle(entry), true),
          // Passivate only if nothing arrived meanwhile: posting and this check are both synchronous.
          onNone: () =>
            Effect.sync(() => {
              if (Queue.sizeUnsafe(queue) > 0) return true
              queues.delete(key)
              return false
            })
        })),
        Effect.repeat({ while: (more) => more }),
        Effect.asVoid,
        Effect.ensuring(options.stopped?.(key) ?? Effect.void)
      )

    const post = (key: K, entry: E) =>
      Effect.gen(function*() {
        const existing = queues.get(key)
        if (existing !== undefined) {
          Queue.offerUnsafe(existing, entry)
          return
        }
        const queue = yield* Queue.unbounded<E>()
        queues.set(key, queue)
        Queue.offerUnsafe(queue, entry)
        if (options.started !== undefined) yield* options.started
        yield* FiberMap.run(fibers, key, actor(key, queue))
      })

    return { post }
  })
