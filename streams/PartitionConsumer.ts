/**
 * Reads one partition of the update stream for its current owner: first the entries the group delivered but
 * never acknowledged (the previous owner's, claimed with `XAUTOCLAIM`), then new ones with a blocking
 * `XREADGROUP` on a dedicated connection. Entries go to the chat actors in stream order; the reader only reads
 * as many as it holds in-flight slots for, and only while its lease is safely alive.
 *
 * `maintain` trims what every consumer has acknowledged (never below the oldest pending entry) and publishes
 * the partition's lag.
 */
import { Clock, Effect, Metric } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Backoff from "../src/domain/Backoff.ts"
import * as Metrics from "../src/metrics.ts"
import { ChatActors, type StreamEntry } from "./ChatActors.ts"
import { Keys } from "./Keys.ts"

const batch = 100
const blockMs = 1000

type RawEntry = [id: string, fields: Array<string> | null]

export type Ownership = {
  readonly partition: number
  readonly epoch: number
  readonly consumer: string
  /** False once the lease may have expired: the reader pauses rather than take entries it may not own. */
  readonly leaseSafe: Effect.Effect<boolean>
}

const field = (fields: ReadonlyArray<string>, name: string): string | undefined => {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

/** Runs until interrupted; Redis failures are retried with backoff. */
export const consume = (own: Ownership) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const keys = yield* Keys
    const actors = yield* ChatActors
    const stream = keys.stream(own.partition)

    const toEntry = (id: string, fields: ReadonlyArray<string>, deliveries: number): StreamEntry => ({
      partition: own.partition,
      epoch: own.epoch,
      entryId: id,
      chatId: Number(field(fields, "chat") ?? 0),
      raw: field(fields, "update") ?? "{}",
      traceparent: field(fields, "traceparent") ?? "",
      deliveries
    })

    /** Dispatches in order; frees the slots of entries that were reserved but not read. */
    const dispatchAll = (entries: ReadonlyArray<StreamEntry>, reserved: number) =>
      Effect.andThen(
        Effect.forEach(entries, actors.dispatch, { discard: true }),
        reserved > entries.length ? actors.unreserve(reserved - entries.length) : Effect.void
      )

    yield* redis.send("XGROUP", "CREATE", stream, keys.group, "0", "MKSTREAM").pipe(
      Effect.catchIf((e) => String(e.cause).includes("BUSYGROUP"), () => Effect.void)
    )

    // Takeover: claim everything still pending in the group, oldest first.
    let cursor = "0-0"
    do {
      const reserved = yield* actors.reserve(batch)
      const [next, claimed, deleted] = yield* redis.send<[string, Array<RawEntry>, Array<string>]>(
        "XAUTOCLAIM", stream, keys.group, own.consumer, "0", cursor, "COUNT", String(reserved)
      )
      if (deleted.length > 0) yield* redis.send("XACK", stream, keys.group, ...deleted)
      const live = claimed.filter((e): e is [string, Array<string>] => e[1] !== null)
      const counts = live.length === 0 ? new Map<string, number>() : new Map(
        (yield* redis.send<Array<[string, string, number, number]>>(
          "XPENDING", stream, keys.group, live[0]![0], live[live.length - 1]![0], String(live.length), own.consumer
        )).map(([id, , , n]) => [id, n] as const)
      )
      yield* dispatchAll(live.map(([id, fields]) => toEntry(id, fields, counts.get(id) ?? 1)), reserved)
      cursor = next
    } while (cursor !== "0-0")

    const connection = yield* redis.reserve
    while (true) {
      if (!(yield* own.leaseSafe)) {
        yield* Effect.sleep("100 millis")
        continue
      }
      const reserved = yield* actors.reserve(batch)
      const reply = yield* connection.send<Array<[string, Array<RawEntry>]> | null>(
        "XREADGROUP", "GROUP", keys.group, own.consumer, "COUNT", String(reserved), "BLOCK", String(blockMs),
        "STREAMS", stream, ">"
      ).pipe(Effect.onError(() => actors.unreserve(reserved)))
      const read = reply?.[0]?.[1] ?? []
      yield* dispatchAll(
        read.flatMap(([id, fields]) => fields === null ? [] : [toEntry(id, fields, 1)]),
        reserved
      )
    }
  }).pipe(
    Effect.scoped,
    // A bug must not silently stop a partition: defects are logged and the reader restarts like on Redis errors.
    Effect.catchDefect((defect) => Effect.fail(new Redis.RedisError({ cause: defect }))),
    Effect.tapError((error) => Effect.logWarning("partition reader failed, restarting", { error: String(error.cause) })),
    Effect.retry({ schedule: Backoff.capped("100 millis", "2 seconds") }),
    Effect.annotateLogs({ partition: own.partition })
  )

/** Trims acknowledged entries and updates lag and pending gauges. */
export const maintain = (partition: number) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const keys = yield* Keys
    const stream = keys.stream(partition)
    const label = `updates:${partition}`
    const groups = yield* redis.send<Array<Array<string | number | null>>>("XINFO", "GROUPS", stream)
    const group = groups.map(toRecord).find((g) => g["name"] === keys.group)
    if (group === undefined) return
    const lastDelivered = String(group["last-delivered-id"])
    const pending = Number(group["pending"] ?? 0)
    const [, oldestPending] = yield* redis.send<[number, string | null, string | null, unknown]>(
      "XPENDING", stream, keys.group
    )
    const keepFrom = pending > 0 && oldestPending !== null ? oldestPending : lastDelivered
    if (keepFrom !== "0-0") yield* redis.send("XTRIM", stream, "MINID", "~", keepFrom)
    const firstUndelivered = yield* redis.send<Array<RawEntry>>(
      "XRANGE", stream, "(" + lastDelivered, "+", "COUNT", "1"
    )
    const oldest = [pending > 0 ? oldestPending : null, firstUndelivered[0]?.[0] ?? null]
      .filter((id): id is string => id !== null)
      .map((id) => Number(id.split("-")[0]))
    const now = yield* Clock.currentTimeMillis
    yield* Metric.update(Metrics.queueLag(label), oldest.length === 0 ? 0 : (now - Math.min(...oldest)) / 1000)
    yield* Metric.update(Metrics.queuePending(label), pending)
  }).pipe(Effect.catch((error) => Effect.logDebug("partition maintenance failed", String(error.cause))))

const toRecord = (flat: ReadonlyArray<unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = flat[i + 1]
  return out
}
