/**
 * What the chat actors (updates) and the outbox actors (messages) share: in-flight slots that a stream reader
 * takes before reading, a count of entries in flight per partition (to let a partition go once it is drained),
 * and mailboxes: one fiber per key with its own queue, handling its entries one at a time, passivated when idle.
 */
import { Cause, Deferred, Duration, Effect, FiberMap, Queue, type Scope, Semaphore } from "effect"

/** At most `max` entries in flight: when every slot is taken the reader stops reading (Redis is the buffer). */
export const makeSlots = (max: number) =>
  Effect.map(Semaphore.make(max), (permits) => ({
    /** Waits for at least one slot and takes up to `wanted`; returns how many were taken. */
    reserve: (wanted: number) =>
      Effect.flatMap(permits.take(1), () =>
        wanted <= 1 ? Effect.succeed(1) : Effect.flatMap(
          // Releasing none answers how many are free.
          permits.release(0),
          (free) => {
            const more = Math.min(free, wanted - 1)
            return more === 0 ? Effect.succeed(1) : Effect.map(permits.takeIfAvailable(more), (took) => took ? 1 + more : 1)
          }
        )),
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
 * posted; different keys run concurrently. A key's entries are handled in the order of the posts' calls when
 * these come one after another (each partition's entries come from one reader).
 *
 * An actor idle for `idle` is passivated: a sweeper, every quarter of `idle`, ends the queues of actors that
 * wait with nothing queued and have finished nothing for that long, and their fibers stop. (A timeout on each
 * wait instead would cost two fibers and a timer per entry.)
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
    type Mailbox = { readonly queue: Queue.Queue<E, Cause.Done>; busy: boolean; lastActive: number }
    const mailboxes = new Map<K, Mailbox>()
    const idleMs = Duration.toMillis(options.idle)

    const handled = (mailbox: Mailbox) =>
      Effect.sync(() => {
        mailbox.busy = false
        mailbox.lastActive = Date.now()
      })

    const actor = (key: K, mailbox: Mailbox): Effect.Effect<void> =>
      Queue.take(mailbox.queue).pipe(
        Effect.flatMap((entry) => {
          mailbox.busy = true
          return Effect.ensuring(options.handle(entry), handled(mailbox))
        }),
        Effect.forever,
        // Ended by the sweeper: passivated.
        Effect.catchIf(Cause.isDone, () => Effect.void),
        Effect.ensuring(options.stopped?.(key) ?? Effect.void)
      )

    // Posting and this check are both synchronous, and a post marks its mailbox active: an actor with anything
    // queued, in hand or just handed to it is never ended.
    const sweep = Effect.sync(() => {
      const before = Date.now() - idleMs
      for (const [key, mailbox] of mailboxes) {
        if (mailbox.busy || mailbox.lastActive > before || Queue.sizeUnsafe(mailbox.queue) > 0) continue
        mailboxes.delete(key)
        Queue.endUnsafe(mailbox.queue)
      }
    })
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(Duration.millis(Math.max(1, idleMs / 4))), sweep)))

    /** Queues `entry`; the mailbox is active from now, so the sweeper leaves it alone before its fiber takes it. */
    const deliver = (mailbox: Mailbox, entry: E) => {
      mailbox.lastActive = Date.now()
      Queue.offerUnsafe(mailbox.queue, entry)
    }

    const post = (key: K, entry: E) =>
      Effect.suspend(() => {
        const existing = mailboxes.get(key)
        if (existing !== undefined) return Effect.sync(() => deliver(existing, entry))
        return Effect.gen(function*() {
          const queue = yield* Queue.unbounded<E, Cause.Done>()
          // Another post for this key may have made its mailbox meanwhile (a partition's reader and its adoption of
          // orphaned entries both post): the entry goes there, behind what that post queued.
          const made = mailboxes.get(key)
          if (made !== undefined) return deliver(made, entry)
          const mailbox: Mailbox = { queue, busy: false, lastActive: Date.now() }
          mailboxes.set(key, mailbox)
          deliver(mailbox, entry)
          if (options.started !== undefined) yield* options.started
          yield* FiberMap.run(fibers, key, actor(key, mailbox))
        })
      })

    return { post }
  })
