/**
 * Reads partitioned streams for their current owner (`readStream`: the update stream here, the outbox in
 * `OutboxSender`): first the entries the group delivered but never acknowledged (the previous owner's, claimed
 * with `XAUTOCLAIM`), then new ones with a blocking `XREADGROUP` on a dedicated connection. Entries are
 * dispatched in stream order; the reader only reads as many as it holds in-flight slots for, and only while
 * its lease is safely alive.
 *
 * `maintainStream` trims what every consumer has acknowledged (never below the oldest pending entry) and
 * publishes the stream's lag.
 */
import { Clock, Effect, Metric } from "effect"
import * as Redis from "effect/persistence/Redis"
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
    // A bug must not silently stop a partition: defects are logged and the reader restarts like on Redis errors.
    Effect.catchDefect((defect) => Effect.fail(new Redis.RedisError({ cause: defect }))),
    Effect.tapError((error) => Effect.logWarning("stream reader failed, restarting", { error: String(error.cause) })),
    Effect.retry({ schedule: Backoff.capped("100 millis", "2 seconds") }),
    Effect.annotateLogs({ stream: reader.stream })
  )

/** Reads one partition of the update stream into the chat actors. */
export const consume = (own: Ownership) =>
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
