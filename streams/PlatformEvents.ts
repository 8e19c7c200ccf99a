/**
 * The notifier's consumer of the platform's events (`platform:events`): consumer group `tg-gateway`, one consumer
 * per process, so notifiers scale by starting more of them. Each entry's `event` field is JSON
 * `{"type","user_id","vars","idempotency_key"}`; `type` names the template.
 *
 * At least once, sent once: an entry is acknowledged after its messages are in the outbox, and a message's
 * idempotency key comes from the event's (`event:<type>:<idempotency_key>:<chat>`), so an entry read again
 * (a crash before its ack) or the same event appended twice sends nothing new, within the sender's 48 h memory
 * (`EVENT_MAX_AGE_S` stays below it). Entries of a crashed consumer are claimed by the others once idle for
 * `EVENT_CLAIM_IDLE_MS`. One read's events of one player are handled in stream order; an event claimed after a
 * crash may arrive after that player's later ones.
 *
 * An event that can never be sent goes to the dead-letter stream `<stream>:dead` with the reason, and the
 * consumer moves on: not JSON, no `user_id` or `idempotency_key`, an unknown template, variables the template
 * refuses, a template that fails (a defect), or older than `EVENT_MAX_AGE_S` (`expired`: the notifier was down
 * longer). A Redis or Postgres outage is not the event's fault: the entry stays pending, the reader backs off,
 * and it is tried again when the store answers.
 *
 * The group is created at the stream's end (`$`) on first start: events appended before the gateway ever ran
 * are the past, not news. Consumers of stopped processes are removed from the group once they hold nothing.
 */
import { Cause, Clock, Effect, Layer, Metric, Option, Schedule, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Crypto from "node:crypto"
import * as Os from "node:os"
import * as Env from "../src/config.ts"
import * as Backoff from "../src/domain/Backoff.ts"
import * as Metrics from "../src/metrics.ts"
import { Templates } from "../src/notify/Templates.ts"
import { hotSpan, spanFromTraceparent } from "../layers/Telemetry.ts"
import { Notifications } from "../services/Notifications.ts"
import { reminderKey } from "../services/ReminderScheduler.ts"
import { Id as UserId } from "../services/platform/Model.ts"
import { field, maintainStream, toRecord } from "./PartitionConsumer.ts"

export const group = "tg-gateway"

/** The `event` field of a platform event. Fields the gateway does not use (e.g. `occurred_at`) are allowed. */
export const PlatformEvent = Schema.Struct({
  type: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)),
  user_id: UserId,
  vars: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
  idempotency_key: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200))
})
const decodeEvent = Schema.decodeUnknownEffect(Schema.fromJsonString(PlatformEvent))

type RawEntry = [id: string, fields: Array<string> | null]
type Entry = { readonly id: string; readonly fields: ReadonlyArray<string> }
type Result = "ok" | "dead_letter" | "expired" | "pending"

/** Why an event is dead-lettered instead of sent. */
class Poison extends Schema.TaggedError<Poison>()("Poison", { reason: Schema.String }) {}

const batch = 100
const blockMs = 1000
const claimEveryMs = 5_000
/** A consumer idle this long with nothing pending belongs to a stopped process. */
const staleConsumerMs = 3_600_000
/** Events of different players handled at once; one player's events keep their order. */
const concurrency = 16
/** The label of the group's lag and pending gauges, whatever the stream is called (the contract's name). */
const label = "platform:events"

export const layer = Layer.effectDiscard(Effect.gen(function*() {
  const redis = yield* Redis.Redis
  const templates = yield* Templates
  const notifications = yield* Notifications
  const stream = yield* Env.platformEventsStream
  const maxAgeMs = (yield* Env.eventMaxAgeS) * 1000
  const claimIdleMs = yield* Env.eventClaimIdleMs
  const deadLetters = `${stream}:dead`
  const consumer = `${Os.hostname()}-${process.pid}-${Crypto.randomBytes(3).toString("hex")}`

  const deadLetter = (entry: Entry, reason: string) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* redis.send(
        "XADD", deadLetters, "MAXLEN", "~", "100000", "*",
        "event", field(entry.fields, "event") ?? "",
        "reason", reason,
        "entry", entry.id,
        "failed_at", new Date(now).toISOString(),
        "traceparent", field(entry.fields, "traceparent") ?? ""
      )
    })

  /** Queues the event's messages, or fails with `Poison` when it can never be sent. */
  const notify = (entry: Entry) =>
    Effect.gen(function*() {
      const event = yield* decodeEvent(field(entry.fields, "event") ?? "").pipe(
        Effect.mapError((error) => new Poison({ reason: `invalid event: ${error.message.slice(0, 300)}` }))
      )
      const prepared = yield* templates.prepare(event.type, event.vars ?? {}).pipe(
        Effect.mapError((error) => new Poison({ reason: error.message }))
      )
      // The platform's reminder of a tournament and the one the player set are one message: same key, and neither
      // is sent once the tournament has started.
      const reminder = event.type === "tournament_reminder" ? tournamentOf(event.vars) : undefined
      yield* notifications.notify({
        prepared,
        targets: [{ userId: event.user_id }],
        idempotencyKey: reminder === undefined
          ? `event:${event.type}:${event.idempotency_key}`
          : reminderKey(reminder.id, new Date(reminder.startsAt)),
        lane: "notify",
        ...(reminder === undefined ? {} : { notAfter: reminder.startsAt })
      })
    }).pipe(
      // A failing template (a bug) fails the same way every time: dead-lettered, to replay once fixed.
      Effect.catchDefect((defect) => Effect.fail(new Poison({ reason: `internal error: ${String(defect).slice(0, 300)}` })))
    )

  /** Handles one entry to its end (queued or dead-lettered), or leaves it pending while a store is down. */
  const handle = (entry: Entry): Effect.Effect<Result> =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (now - Number(entry.id.split("-")[0]) > maxAgeMs) {
        yield* deadLetter(entry, "expired")
        return "expired" as const
      }
      const outcome = yield* notify(entry).pipe(
        Effect.retry({
          while: (error) => error._tag !== "Poison",
          schedule: Backoff.capped("100 millis", "1 second"),
          times: 2
        }),
        Effect.result
      )
      if (outcome._tag === "Success") return "ok" as const
      const error = outcome.failure
      if (error._tag !== "Poison") {
        yield* Effect.logWarning("platform event left pending: store unavailable", { entry: entry.id, error: String(error) })
        return "pending" as const
      }
      yield* deadLetter(entry, error.reason)
      yield* Effect.logWarning("platform event dead-lettered", { entry: entry.id, reason: error.reason })
      return "dead_letter" as const
    }).pipe(
      Effect.tap((result) => result === "pending" ? Effect.void : redis.send("XACK", stream, group, entry.id)),
      // Only Redis failures of the dead letter or the ack get here: the entry stays pending, claimed again later.
      Effect.catch((error) =>
        Effect.as(Effect.logWarning("platform event left pending", { entry: entry.id, error: String(error) }), "pending" as const)
      ),
      Effect.tap((result) => Metric.update(Metrics.platformEvents(result), 1)),
      (effect) => Effect.withSpan(effect, "platform_event", {
        ...hotSpan,
        kind: "consumer",
        parent: Option.getOrUndefined(spanFromTraceparent(field(entry.fields, "traceparent"))),
        attributes: { "tg.stream": stream, "tg.entry": entry.id }
      })
    )

  /** One player's events in stream order, different players concurrently; answers whether a store was down. */
  const handleAll = (entries: ReadonlyArray<Entry>) => {
    const byUser = new Map<string, Array<Entry>>()
    for (const entry of entries) {
      const key = userOf(field(entry.fields, "event")) ?? entry.id
      const list = byUser.get(key)
      if (list === undefined) byUser.set(key, [entry])
      else list.push(entry)
    }
    return Effect.map(
      Effect.forEach(byUser.values(), (list) => Effect.forEach(list, handle), { concurrency }),
      (results) => results.flat().includes("pending")
    )
  }

  const live = (raw: ReadonlyArray<RawEntry>): Array<Entry> =>
    raw.flatMap(([id, fields]) => fields === null ? [] : [{ id, fields }])

  /** Entries another consumer (a crashed process) read and never acknowledged; answers whether a store was down. */
  const claimStale = Effect.gen(function*() {
    let cursor = "0-0"
    let unavailable = false
    do {
      const [next, claimed, deleted] = yield* redis.send<[string, Array<RawEntry>, Array<string>]>(
        "XAUTOCLAIM", stream, group, consumer, String(claimIdleMs), cursor, "COUNT", String(batch)
      )
      if (deleted.length > 0) {
        // Trimmed by the producer's MAXLEN before anyone handled them: gone; said and counted.
        yield* redis.send("XACK", stream, group, ...deleted)
        yield* Metric.update(Metrics.platformEvents("trimmed"), deleted.length)
        yield* Effect.logWarning("platform events trimmed before they were handled", { count: deleted.length })
      }
      const entries = live(claimed)
      if (entries.length > 0) {
        yield* Effect.logInfo("claimed stale platform events", { count: entries.length })
        if (yield* handleAll(entries)) unavailable = true
      }
      cursor = next
    } while (cursor !== "0-0")
    return unavailable
  })

  /** Consumers of stopped processes: idle for an hour with nothing pending. */
  const removeStaleConsumers = Effect.gen(function*() {
    const consumers = (yield* redis.send<Array<Array<string | number>>>("XINFO", "CONSUMERS", stream, group)).map(toRecord)
    for (const c of consumers) {
      if (c["name"] !== consumer && Number(c["pending"]) === 0 && Number(c["idle"]) > staleConsumerMs) {
        yield* redis.send("XGROUP", "DELCONSUMER", stream, group, String(c["name"]))
      }
    }
  })

  const read = Effect.gen(function*() {
    const connection = yield* redis.reserve
    let lastClaim = 0
    let backoffMs = 0
    while (true) {
      if (backoffMs > 0) yield* Effect.sleep(backoffMs)
      let unavailable = false
      const now = yield* Clock.currentTimeMillis
      if (now - lastClaim >= claimEveryMs) {
        lastClaim = now
        unavailable = yield* claimStale
      }
      // While a store is down, no new entries are taken: they would only wait in this consumer's pending list.
      if (!unavailable) {
        const reply = yield* connection.send<Array<[string, Array<RawEntry>]> | null>(
          "XREADGROUP", "GROUP", group, consumer, "COUNT", String(batch), "BLOCK", String(blockMs), "STREAMS", stream, ">"
        )
        unavailable = yield* handleAll(live(reply?.[0]?.[1] ?? []))
      }
      // What was left pending is claimed again (by this consumer or another) once idle for `claimIdleMs`.
      backoffMs = unavailable ? Math.min(Math.max(backoffMs * 2, 250), 5000) : 0
    }
  }).pipe(
    Effect.scoped,
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.fail(new Redis.RedisError({ cause: Cause.squash(cause) }))
    ),
    Effect.tapError((error) => Effect.logWarning("platform events reader failed, restarting", { error: String(error.cause) })),
    Effect.retry({ schedule: Backoff.capped("100 millis", "2 seconds") })
  )

  // The group exists before this layer is ready: nothing appended from now on is missed.
  yield* redis.send("XGROUP", "CREATE", stream, group, "$", "MKSTREAM").pipe(
    Effect.catchIf((e) => String(e.cause).includes("BUSYGROUP"), () => Effect.void)
  )
  // The platform's stream is not ours to trim (other groups may read it): only its lag and pending are published.
  const upkeep = Effect.andThen(
    maintainStream(stream, group, label, { trim: false }),
    removeStaleConsumers.pipe(Effect.catch((error) => Effect.logDebug("stale consumers not removed", String(error))))
  ).pipe(Effect.repeat(Schedule.spaced("5 seconds")))

  yield* Effect.forkScoped(read)
  yield* Effect.forkScoped(upkeep)
  yield* Effect.logInfo("consuming platform events", { stream, group, consumer })
}))

/** A `tournament_reminder`'s tournament (its variables are already validated by the template). */
const tournamentOf = (vars: Readonly<Record<string, unknown>> | undefined) => {
  const id = vars?.["tournament_id"]
  const startsAt = Date.parse(String(vars?.["starts_at"]))
  return typeof id === "string" && !Number.isNaN(startsAt) ? { id, startsAt } : undefined
}

/** The event's `user_id`, read without decoding it fully (only to keep one player's events in order). */
const userOf = (json: string | undefined): string | undefined => {
  const match = json === undefined ? null : /"user_id"\s*:\s*"([^"]{1,128})"/.exec(json)
  return match?.[1]
}
