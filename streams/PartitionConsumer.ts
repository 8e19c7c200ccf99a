/**
 * Reads partitioned streams for their current owner (`readStream`: the update stream here, the outbox in
 * `OutboxSender`): first the entries the group delivered but never acknowledged (the previous owner's, claimed
 * with `XAUTOCLAIM`), then new ones with a blocking `XREADGROUP` on a dedicated connection: one per partition,
 * or one for every partition the process owns (`makeSharedReader`). Entries are dispatched in stream order; the
 * reader only reads as many as it holds in-flight slots for, and only while its lease is safely alive.
 *
 * `maintainStream` trims what every consumer has acknowledged (never below the oldest pending entry) and
 * publishes the stream's lag.
 */
import { Clock, Deferred, Effect, Exit, Metric, type Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Performance from "node:perf_hooks"
import * as Backoff from "../src/domain/Backoff.ts"
import * as Metrics from "../src/metrics.ts"
import { ChatActors, type StreamEntry } from "./ChatActors.ts"
import { Keys } from "./Keys.ts"
import type { Ownership } from "./Ownership.ts"

const batch = 100
const blockMs = 1000
const adoptEveryMs = 2000
const orphanIdleMs = 1000

type RawEntry = [id: string, fields: Array<string> | null]

export const field = (fields: ReadonlyArray<string>, name: string): string | undefined => {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

/** What reads a partitioned stream on behalf of its owner: in-flight slots, and where entries go, in order. */
export type StreamReader<Entry> = {
  readonly stream: string
  readonly group: string
  readonly own: Ownership
  /** Waits for at least one in-flight slot and takes up to `max`; returns how many were taken. */
  readonly reserve: (max: number) => Effect.Effect<number>
  readonly unreserve: (n: number) => Effect.Effect<void>
  readonly toEntry: (id: string, fields: ReadonlyArray<string>, deliveries: number) => Entry
  /** Takes one reserved slot; frees it when the entry is finished. */
  readonly dispatch: (entry: Entry) => Effect.Effect<void>
  /** Reads new entries together with the process's other partitions instead of on a connection of its own. */
  readonly shared?: SharedReader<Entry>
}

/**
 * Reads a stream for its partition's owner until interrupted: first what the group delivered but nobody
 * acknowledged (the previous owner's, claimed with `XAUTOCLAIM`), then new entries with a blocking
 * `XREADGROUP` on a dedicated connection, as many as it holds slots for. Redis failures are retried.
 */
export const readStream = <Entry>(reader: StreamReader<Entry>) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const { stream, group, own } = reader

    /** Dispatches in order; frees the slots of entries that were reserved but not read. */
    const dispatchAll = (entries: ReadonlyArray<Entry>, reserved: number) =>
      Effect.andThen(
        Effect.forEach(entries, reader.dispatch, { discard: true }),
        reserved > entries.length ? reader.unreserve(reserved - entries.length) : Effect.void
      )

    yield* redis.send("XGROUP", "CREATE", stream, group, "0", "MKSTREAM").pipe(
      Effect.catchIf((e) => String(e.cause).includes("BUSYGROUP"), () => Effect.void)
    )

    // Takeover: claim everything still pending in the group, oldest first.
    let cursor = "0-0"
    do {
      const reserved = yield* reader.reserve(batch)
      const [next, claimed, deleted] = yield* redis.send<[string, Array<RawEntry>, Array<string>]>(
        "XAUTOCLAIM", stream, group, own.consumer, "0", cursor, "COUNT", String(reserved)
      ).pipe(Effect.onError(() => reader.unreserve(reserved)))
      if (deleted.length > 0) yield* redis.send("XACK", stream, group, ...deleted)
      const live = claimed.filter((e): e is [string, Array<string>] => e[1] !== null)
      const counts = live.length === 0 ? new Map<string, number>() : new Map(
        (yield* redis.send<Array<[string, string, number, number]>>(
          "XPENDING", stream, group, live[0]![0], live[live.length - 1]![0], String(live.length), own.consumer
        ).pipe(Effect.onError(() => reader.unreserve(reserved)))).map(([id, , , n]) => [id, n] as const)
      )
      yield* dispatchAll(live.map(([id, fields]) => reader.toEntry(id, fields, counts.get(id) ?? 1)), reserved)
      cursor = next
    } while (cursor !== "0-0")

    /**
     * Entries pending under another consumer's name while we own the partition are orphans: a former owner's
     * blocking read that Redis answered after its reader was stopped and after our takeover claim. Claimed
     * (and dispatched) once they are a little idle, so none waits for the next takeover.
     */
    const adoptOrphans = Effect.gen(function*() {
      const pending = yield* redis.send<Array<[string, string, number, number]>>(
        "XPENDING", stream, group, "IDLE", String(orphanIdleMs), "-", "+", String(batch)
      )
      const orphans = pending.filter(([, consumer]) => consumer !== own.consumer)
      if (orphans.length === 0) return
      const reserved = yield* reader.reserve(orphans.length)
      const adopted = orphans.slice(0, reserved)
      const claimed = yield* redis.send<Array<RawEntry>>(
        "XCLAIM", stream, group, own.consumer, String(orphanIdleMs), ...adopted.map(([id]) => id)
      ).pipe(Effect.onError(() => reader.unreserve(reserved)))
      const deliveries = new Map(adopted.map(([id, , , n]) => [id, n + 1] as const))
      yield* Effect.logInfo("adopted orphaned entries", { count: claimed.length })
      yield* dispatchAll(
        claimed.flatMap(([id, fields]) => fields === null ? [] : [reader.toEntry(id, fields, deliveries.get(id) ?? 1)]),
        reserved
      )
    })

    if (reader.shared !== undefined) {
      const adoption = Effect.gen(function*() {
        if (yield* own.leaseSafe) yield* adoptOrphans
      }).pipe(Effect.delay(adoptEveryMs), Effect.forever)
      return yield* Effect.raceFirst(adoption, reader.shared.join({ stream, own, toEntry: reader.toEntry }))
    }

    const connection = yield* redis.reserve
    let lastAdoption = Date.now()
    while (true) {
      if (!(yield* own.leaseSafe)) {
        yield* Effect.sleep("100 millis")
        continue
      }
      if (Date.now() - lastAdoption >= adoptEveryMs) {
        lastAdoption = Date.now()
        yield* adoptOrphans
      }
      const reserved = yield* reader.reserve(batch)
      const reply = yield* connection.send<Array<[string, Array<RawEntry>]> | null>(
        "XREADGROUP", "GROUP", group, own.consumer, "COUNT", String(reserved), "BLOCK", String(blockMs),
        "STREAMS", stream, ">"
      ).pipe(Effect.onError(() => reader.unreserve(reserved)))
      const read = reply?.[0]?.[1] ?? []
      yield* dispatchAll(
        read.flatMap(([id, fields]) => fields === null ? [] : [reader.toEntry(id, fields, 1)]),
        reserved
      )
    }
  }).pipe(
    Effect.scoped,
    restarting("stream reader"),
    Effect.annotateLogs({ stream: reader.stream })
  )

/**
 * Runs a reader again after a Redis error, with backoff, logging each failure (after `onFailure`). A bug must not
 * silently stop reading either: defects are logged and the reader restarts like on Redis errors.
 */
const restarting = (what: string, onFailure: (error: Redis.RedisError) => void = () => {}) =>
<A, R>(self: Effect.Effect<A, Redis.RedisError, R>) =>
  self.pipe(
    Effect.catchDefect((defect) => Effect.fail(new Redis.RedisError({ cause: defect }))),
    Effect.tapError((error) =>
      Effect.andThen(
        Effect.sync(() => onFailure(error)),
        Effect.logWarning(`${what} failed, restarting`, { error: String(error.cause) })
      )
    ),
    Effect.retry({ schedule: Backoff.capped("100 millis", "2 seconds") })
  )

/** A partition's stream, read by a `SharedReader` while its partition is owned. */
export type SharedMember<Entry> = {
  readonly stream: string
  readonly own: Ownership
  readonly toEntry: (id: string, fields: ReadonlyArray<string>, deliveries: number) => Entry
}

export type SharedReader<Entry> = {
  /**
   * Reads `member`'s stream with the others until interrupted. Leaving waits until a read that included the stream
   * has been dispatched (it is cut short first), so nothing read for the partition is left behind undispatched.
   * Fails when a read fails: Redis may have delivered entries whose reply never arrived, so the partition's reader
   * starts over (its takeover pass claims what is pending under this consumer too) before it joins again.
   */
  readonly join: (member: SharedMember<Entry>) => Effect.Effect<never, Redis.RedisError>
  /** The streams the read in progress covers (none between reads). */
  readonly reading: Effect.Effect<ReadonlyArray<string>>
  /** The Redis client id of the reading connection (`CLIENT LIST`), while it is connected. */
  readonly connectionId: Effect.Effect<string | undefined>
}

/** A read of the shared reader, from the moment its streams are chosen until what it brought is dispatched. */
type SharedRead = {
  readonly streams: ReadonlySet<string>
  readonly done: Deferred.Deferred<void>
  /** Not yet sent, sent (possibly parked at Redis), or answered. */
  stage: "choosing" | "sent" | "answered"
}

/**
 * One blocking `XREADGROUP` for every partition stream this process owns, on one dedicated connection, instead of
 * one per partition. Under load each read brings entries of several partitions at once, so their chats' Redis
 * commands and Bot API calls leave together: at 1,000 updates/s over 16 partitions, one read per partition came
 * back with a single entry almost every time, one read per update.
 *
 * The streams' keys are in different hash slots (their partitions' tags): this needs a standalone Redis (or a
 * Sentinel primary), which is what the gateway connects to.
 *
 * A partition joining or leaving cuts the read in progress short (`CLIENT UNBLOCK`, or at worst it ends by itself
 * within its block time), so a new partition is read at once and a leaving one has everything read for it
 * dispatched before it is drained and released.
 *
 * A read never brings more entries than the slots it holds: it waits for a slot per stream (as many as the
 * process has), and with fewer slots than streams it reads some of them in turn, without blocking.
 */
export const makeSharedReader = <Entry>(options: {
  readonly group: string
  readonly reserve: (max: number) => Effect.Effect<number>
  readonly unreserve: (n: number) => Effect.Effect<void>
  readonly dispatch: (entry: Entry) => Effect.Effect<void>
  /** How many slots there are in all (`WORKER_MAX_IN_FLIGHT`). */
  readonly maxInFlight: number
  /** How long one read blocks at most (default 1 s; the lease keeps a margin above it). */
  readonly blockMs?: number
}): Effect.Effect<SharedReader<Entry>, never, Redis.Redis | Scope.Scope> =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const { group } = options
    const block = String(options.blockMs ?? blockMs)
    const members = new Map<string, SharedMember<Entry>>()
    let changed = Deferred.makeUnsafe<void>()
    /** Fails the members of a failed read's era, so that they start over. */
    let broken = Deferred.makeUnsafe<never, Redis.RedisError>()
    let current: SharedRead | undefined
    let clientId: string | undefined
    let lastReadAt = 0
    /** Where the next read starts when it can take only some of the streams. */
    let turn = 0
    const readInterval = makeReadPacing()

    /** Until a partition joins or leaves, or `ms` pass (a lease may be renewed, a stream's turn may come). */
    const untilChanged = (ms: number) => Effect.suspend(() => Effect.raceFirst(Deferred.await(changed), Effect.sleep(ms)))

    const memberChanged = () => {
      Deferred.doneUnsafe(changed, Exit.void)
      changed = Deferred.makeUnsafe<void>()
    }

    /**
     * Cuts a read short: the blocked `XREADGROUP` answers as if it had timed out (or with what it already had).
     * Asked again shortly while the read is not yet sent or not yet parked at Redis; without the right to
     * `CLIENT UNBLOCK` it ends within its block time anyway.
     */
    const cutShort = (read: SharedRead) =>
      Effect.gen(function*() {
        while (!Deferred.isDoneUnsafe(read.done) && read.stage !== "answered") {
          if (read.stage === "sent" && clientId !== undefined) {
            const unblocked = yield* redis.send<number>("CLIENT", "UNBLOCK", clientId).pipe(Effect.orElseSucceed(() => -1))
            if (unblocked !== 0) return
          }
          yield* Effect.sleep("5 millis")
        }
      })

    const readOnce = (connection: Redis.Connection) =>
      Effect.gen(function*() {
        if (members.size === 0) return yield* untilChanged(100)
        const wait = lastReadAt + readInterval() - Date.now()
        if (wait > 0) yield* Effect.sleep(wait)
        // A slot per stream, as far as there are slots: never more entries than slots held.
        let held = yield* options.reserve(batch)
        let dispatched = 0
        const issued = yield* Effect.gen(function*() {
          const wanted = Math.min(members.size, options.maxInFlight)
          while (held < wanted) held += yield* options.reserve(wanted - held)
          // From here until what it brings is dispatched, a partition that leaves waits for this read.
          const candidates = [...members.values()]
          const read: SharedRead = { streams: new Set(candidates.map((m) => m.stream)), done: Deferred.makeUnsafe(), stage: "choosing" }
          current = read
          return yield* Effect.gen(function*() {
            const safe: Array<SharedMember<Entry>> = []
            for (const member of candidates) if (yield* member.own.leaseSafe) safe.push(member)
            // Not one that left while the leases were looked at.
            const live = safe.filter((m) => members.get(m.stream) === m)
            if (live.length === 0) return false
            // Fewer slots than streams (more partitions than slots): some streams in turn, without waiting.
            const all = live.length <= held
            const chosen = all ? live : Array.from({ length: held }, (_, i) => live[(turn + i) % live.length]!)
            if (!all) turn = (turn + held) % live.length
            lastReadAt = Date.now()
            read.stage = "sent"
            const reply = yield* connection.send<Array<[string, Array<RawEntry>]> | null>(
              "XREADGROUP", "GROUP", group, chosen[0]!.own.consumer,
              "COUNT", String(Math.max(1, Math.floor(held / chosen.length))),
              ...(all ? ["BLOCK", block] : []),
              "STREAMS", ...chosen.map((m) => m.stream), ...chosen.map(() => ">")
            )
            read.stage = "answered"
            const entries: Array<Entry> = []
            for (const [stream, raw] of reply ?? []) {
              const member = chosen.find((m) => m.stream === stream)
              if (member === undefined) continue
              for (const [id, fields] of raw) if (fields !== null) entries.push(member.toEntry(id, fields, 1))
            }
            for (const entry of entries) {
              yield* options.dispatch(entry)
              dispatched++
            }
            return all || entries.length > 0
          }).pipe(Effect.ensuring(Effect.sync(() => {
            current = undefined
            Deferred.doneUnsafe(read.done, Exit.void)
          })))
        }).pipe(
          // The slots of entries not dispatched, whatever happened.
          Effect.ensuring(Effect.suspend(() => held > dispatched ? options.unreserve(held - dispatched) : Effect.void))
        )
        // Nothing read (every lease too close to its end, or the streams read in turn had nothing).
        if (!issued) yield* untilChanged(10)
      })

    yield* Effect.gen(function*() {
      const connection = yield* redis.reserve
      clientId = String(yield* connection.send<number>("CLIENT", "ID"))
      yield* Effect.forever(readOnce(connection))
    }).pipe(
      Effect.ensuring(Effect.sync(() => {
        clientId = undefined
      })),
      Effect.scoped,
      // The members start over: the failed read may have been delivered with no reply.
      restarting("shared stream reader", (error) => {
        Deferred.doneUnsafe(broken, Exit.fail(error))
        broken = Deferred.makeUnsafe<never, Redis.RedisError>()
      }),
      Effect.forkScoped
    )

    const join = (member: SharedMember<Entry>) =>
      Effect.acquireUseRelease(
        Effect.suspend(() => {
          const other = members.values().next().value
          if (other !== undefined && other.own.consumer !== member.own.consumer) {
            return Effect.die(new Error("a shared stream reader reads for one consumer"))
          }
          members.set(member.stream, member)
          memberChanged()
          return Effect.succeed(broken)
        }),
        // A read parked without this stream is cut short, so the stream is read at once.
        (failed) =>
          Effect.andThen(Effect.suspend(() => current === undefined ? Effect.void : cutShort(current)), Deferred.await(failed)),
        () =>
          Effect.suspend(() => {
            if (members.get(member.stream) === member) members.delete(member.stream)
            memberChanged()
            const read = current
            if (read === undefined || !read.streams.has(member.stream)) return Effect.void
            return Effect.andThen(cutShort(read), Deferred.await(read.done))
          })
      )

    return {
      join,
      reading: Effect.sync(() => current === undefined ? [] : [...current.streams]),
      connectionId: Effect.sync(() => clientId)
    }
  })

/** The longest a shared reader waits between two reads, when the process is busy. */
export const maxReadIntervalMs = 5

/**
 * How long a shared reader waits between reads, from how busy this process's event loop was over the last tenth
 * of a second: not at all below a fifth busy, then more, up to `maxReadIntervalMs` at half busy and above.
 * An idle process answers each entry the moment it arrives; a busy one reads entries in batches, so that each
 * batch's Redis commands and Bot API calls leave in fewer writes: at 1,000 updates/s on a 2-core machine this
 * cut the worker's CPU per update by about a third, and its latency tail with it.
 */
const makeReadPacing = () => {
  let last = Performance.performance.eventLoopUtilization()
  let lastAt = Date.now()
  let interval = 0
  return (): number => {
    const now = Date.now()
    if (now - lastAt >= 100) {
      const current = Performance.performance.eventLoopUtilization()
      const busy = Performance.performance.eventLoopUtilization(current, last).utilization
      last = current
      lastAt = now
      interval = maxReadIntervalMs * Math.min(1, Math.max(0, (busy - 0.2) / 0.3))
    }
    return interval
  }
}

/** Reads one partition of the update stream into the chat actors (with the others, given a `SharedReader`). */
export const consume = (own: Ownership, shared?: SharedReader<StreamEntry>) =>
  Effect.gen(function*() {
    const keys = yield* Keys
    const actors = yield* ChatActors
    yield* readStream<StreamEntry>({
      stream: keys.stream(own.partition),
      group: keys.group,
      own,
      reserve: actors.reserve,
      unreserve: actors.unreserve,
      dispatch: actors.dispatch,
      ...(shared === undefined ? {} : { shared }),
      toEntry: (id, fields, deliveries) => ({
        partition: own.partition,
        epoch: own.epoch,
        entryId: id,
        chatId: Number(field(fields, "chat") ?? 0),
        raw: field(fields, "update") ?? "{}",
        traceparent: field(fields, "traceparent") ?? "",
        deliveries
      })
    })
  })

/** Trims acknowledged entries of one update partition and updates its lag and pending gauges. */
export const maintain = (partition: number) =>
  Effect.gen(function*() {
    const keys = yield* Keys
    yield* maintainStream(keys.stream(partition), keys.group, `updates:${partition}`)
  })

/**
 * Trims what every consumer of `group` has acknowledged (never below the oldest pending entry; not at all with
 * `trim: false`, for a stream other groups may read) and publishes the stream's lag and pending count under `label`.
 */
export const maintainStream = (stream: string, group: string, label: string, options?: { readonly trim: boolean }) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const groups = yield* redis.send<Array<Array<string | number | null>>>("XINFO", "GROUPS", stream)
    const info = groups.map(toRecord).find((g) => g["name"] === group)
    if (info === undefined) return
    const lastDelivered = String(info["last-delivered-id"])
    const pending = Number(info["pending"] ?? 0)
    const [, oldestPending] = yield* redis.send<[number, string | null, string | null, unknown]>(
      "XPENDING", stream, group
    )
    const keepFrom = pending > 0 && oldestPending !== null ? oldestPending : lastDelivered
    if (keepFrom !== "0-0" && options?.trim !== false) yield* redis.send("XTRIM", stream, "MINID", "~", keepFrom)
    const firstUndelivered = yield* redis.send<Array<RawEntry>>(
      "XRANGE", stream, "(" + lastDelivered, "+", "COUNT", "1"
    )
    const oldest = [pending > 0 ? oldestPending : null, firstUndelivered[0]?.[0] ?? null]
      .filter((id): id is string => id !== null)
      .map((id) => Number(id.split("-")[0]))
    const now = yield* Clock.currentTimeMillis
    yield* Metric.update(Metrics.queueLag(label), oldest.length === 0 ? 0 : (now - Math.min(...oldest)) / 1000)
    yield* Metric.update(Metrics.queuePending(label), pending)
  }).pipe(Effect.catch((error) => Effect.logDebug("stream maintenance failed", String(error.cause))))

/** A Redis reply of alternating names and values (`XINFO`), as a record. */
export const toRecord = (flat: ReadonlyArray<unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = flat[i + 1]
  return out
}
