/**
 * Chat actors: one fiber per `chat_id`, each with its own queue, handling its chat's updates one at a time in
 * stream order while different chats run concurrently. Idle actors are passivated.
 *
 * In-flight updates are bounded by a semaphore that partition readers take before reading: when every permit
 * is held the readers stop calling `XREADGROUP`, so Redis is the buffer, not the heap. An update is
 * acknowledged only in the same Lua script that commits the chat's new state (see `ChatState`); a failing
 * handler is retried with backoff and then dead-lettered with its error, and the chat moves on.
 *
 * The outcome of each reply (what a re-run answers with instead of sending again) is written with the update's
 * commit, in the same round trip, or before a failed handler runs again: the `Sender` claims each call before
 * sending it, and until then the claim stands for it (see `deferRecord`).
 *
 * A live actor keeps the record it last committed: under the same fencing epoch nobody else can have written
 * the chat's state since, so its next update needs no read. The copy goes when the actor is passivated, and a
 * new epoch (the partition moved and came back) or a refused commit reads Redis again.
 */
import { Clock, Context, Duration, Effect, Layer, Metric, Option, Schedule } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Env from "../src/config.ts"
import * as Metrics from "../src/metrics.ts"
import { hotSpan, spanFromTraceparent } from "../layers/Telemetry.ts"
import { type ChatRecord, ChatState, entryIdAtMost, type Session } from "../services/ChatState.ts"
import { Sender } from "../services/Sender.ts"
import { HandlerError, UpdateHandler } from "../services/UpdateHandler.ts"
import { makeMailboxes, makePartitionTracker, makeSlots } from "./Actors.ts"
import { Keys } from "./Keys.ts"

/** Writes recording an update's sends, made durable with its commit. */
type Records = Array<Effect.Effect<void, Redis.RedisError>>

/** One update read from a partition, with the fencing epoch under which it was read. */
export type StreamEntry = {
  readonly partition: number
  readonly epoch: number
  readonly entryId: string
  readonly chatId: number
  readonly raw: string
  readonly traceparent: string
  /** How many times the stream has delivered it (more than 1 after a takeover). */
  readonly deliveries: number
}

export class ChatActors extends Context.Service<ChatActors, {
  /** Waits for at least one in-flight slot and takes up to `max`; returns how many were taken. */
  readonly reserve: (max: number) => Effect.Effect<number>
  readonly unreserve: (n: number) => Effect.Effect<void>
  /** Hands a reserved entry to its chat's actor; the slot is freed when the entry is finished. */
  readonly dispatch: (entry: StreamEntry) => Effect.Effect<void>
  /** Waits until no entry of `partition` is in flight. */
  readonly drained: (partition: number) => Effect.Effect<void>
}>()("tg-gateway/streams/ChatActors") {
  static readonly layer = Layer.effect(ChatActors)(
    Effect.gen(function*() {
      const state = yield* ChatState
      const handler = yield* UpdateHandler
      const sender = yield* Sender
      const redis = yield* Redis.Redis
      const keys = yield* Keys
      const maxInFlight = yield* Env.maxInFlight
      const maxAttempts = yield* Env.handlerMaxAttempts
      const retryBase = Duration.millis(yield* Env.handlerRetryBaseMs)
      const idle = Duration.millis(yield* Env.actorIdleMs)
      const maxDeliveries = maxAttempts + 5

      const slots = yield* makeSlots(maxInFlight)
      const partitions = makePartitionTracker()
      const finished = (partition: number) => Effect.andThen(slots.unreserve(1), partitions.finished(partition))

      /** Infrastructure failures (Redis) are retried until they pass: the entry stays pending meanwhile. */
      const persistently = <A>(effect: Effect.Effect<A, Redis.RedisError>) =>
        effect.pipe(
          Effect.tapError((error) => Effect.logWarning("chat actor: Redis unavailable, retrying", { error: String(error.cause) })),
          Effect.retry({ schedule: Schedule.spaced("250 millis") }),
          Effect.orDie
        )

      /** Chat -> the record its live actor last committed, and the epoch it was committed under. */
      const committed = new Map<number, { readonly epoch: number; readonly record: ChatRecord }>()

      const load = (entry: StreamEntry): Effect.Effect<Option.Option<ChatRecord>> =>
        Effect.suspend(() => {
          const known = committed.get(entry.chatId)
          if (known !== undefined && known.epoch === entry.epoch) return Effect.succeed(Option.some(known.record))
          return persistently(state.load(entry.partition, entry.chatId))
        })

      /**
       * Writes the update's new state and acknowledges it, together with the records of its sends (`records`, see
       * the `Sender`'s `deferRecord`): all in one round trip. Their order does not matter: a record is read only by
       * the same update handled again, which an acknowledged update never is.
       */
      const commit = (entry: StreamEntry, session: Session | undefined, records: Records) =>
        Effect.suspend(() => {
          const record = session === undefined ? undefined : { lastEntryId: entry.entryId, session }
          // Forgotten first: if the commit fails or is refused, the next update reads what Redis holds.
          const known = committed.get(entry.chatId)
          committed.delete(entry.chatId)
          const stateCommit = state.commit({
            partition: entry.partition,
            epoch: entry.epoch,
            chatId: entry.chatId,
            entryId: entry.entryId,
            record
          })
          const writes = records.length === 0 ? stateCommit : Effect.map(
            Effect.all([stateCommit, ...records.splice(0)], { concurrency: "unbounded" }),
            ([written]) => written
          )
          return Effect.tap(
            persistently(writes),
            (written) =>
              Effect.sync(() => {
                const kept = record ?? (known?.epoch === entry.epoch ? known.record : undefined)
                if (written && kept !== undefined) committed.set(entry.chatId, { epoch: entry.epoch, record: kept })
              })
          )
        })

      const deadLetter = (entry: StreamEntry, error: string, attempts: number) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          yield* persistently(redis.send(
            "XADD", keys.deadLetter, "MAXLEN", "~", "100000", "*",
            "update", entry.raw,
            "error", error,
            "chat", String(entry.chatId),
            "partition", String(entry.partition),
            "entry", entry.entryId,
            "attempts", String(attempts),
            "failed_at", new Date(now).toISOString(),
            "traceparent", entry.traceparent
          ))
          yield* Effect.logError("update dead-lettered", { partition: entry.partition, entry: entry.entryId, error })
        })

      /** Writes the records of sends made so far, before a failed handler runs again (which then finds them). */
      const writeRecords = (records: Records) =>
        Effect.suspend(() =>
          records.length === 0 ? Effect.void : persistently(Effect.all(records.splice(0), { concurrency: "unbounded", discard: true }))
        )

      const runHandler = (entry: StreamEntry, session: Session, records: Records) =>
        Effect.suspend(() => {
          let attempts = 0
          const once = Effect.suspend(() => {
            const update = JSON.parse(entry.raw) as Parameters<typeof handler.handle>[0]["update"]
            // The entry's first delivery, first try: none of its calls can have been attempted before.
            const fresh = entry.deliveries === 1 && attempts++ === 0
            let call = 0
            return handler.handle({
              update,
              chatId: entry.chatId,
              session,
              // An in-doubt call (its earlier attempt died mid-flight) is not repeated and counts as sent.
              outbound: (method, params) =>
                sender.call({
                  method,
                  params,
                  lane: "interactive",
                  idempotencyKey: `${update.update_id}:${call++}`,
                  fresh,
                  deferRecord: (write) => records.push(write)
                }).pipe(Effect.catchIf((e) => e._tag === "SendError" && e.reason._tag === "InDoubt", () =>
                  Effect.succeed(true)))
            })
          }).pipe(Effect.catchDefect((defect) => Effect.fail(new HandlerError({ message: String(defect), cause: defect }))))
          return Effect.withSpan(once, "handle", hotSpan).pipe(
            Effect.tapError(() => Effect.andThen(writeRecords(records), Metric.update(Metrics.handlerFailures, 1))),
            Effect.retry({ schedule: Schedule.exponential(retryBase).pipe(Schedule.jittered), times: maxAttempts - 1 })
          )
        })

      const processEntry = (entry: StreamEntry) =>
        Effect.withSpan(Effect.gen(function*() {
          const records: Records = []
          const record = yield* load(entry)
          if (Option.isSome(record) && entryIdAtMost(entry.entryId, record.value.lastEntryId)) {
            yield* commit(entry, undefined, records)
            return "already_applied" as const
          }
          const session = Option.match(record, { onNone: () => ({}), onSome: (r) => r.session })
          if (entry.deliveries > maxDeliveries) {
            yield* deadLetter(entry, `delivered ${entry.deliveries} times without being acknowledged`, 0)
            return (yield* commit(entry, session, records)) ? "dead_letter" as const : "fenced" as const
          }
          const outcome = yield* Effect.result(runHandler(entry, session, records))
          if (outcome._tag === "Success") {
            return (yield* commit(entry, outcome.success, records)) ? "ok" as const : "fenced" as const
          }
          yield* deadLetter(entry, outcome.failure.message, maxAttempts)
          return (yield* commit(entry, session, records)) ? "dead_letter" as const : "fenced" as const
        }).pipe(
          Effect.tap((result) =>
            Effect.gen(function*() {
              yield* Metric.update(Metrics.updatesProcessed(result), 1)
              const now = yield* Clock.currentTimeMillis
              yield* Metric.update(Metrics.handleLatency, (now - Number(entry.entryId.split("-")[0])) / 1000)
            })
          )
        ), "consume", {
          ...hotSpan,
          kind: "consumer",
          parent: Option.getOrUndefined(spanFromTraceparent(entry.traceparent)),
          attributes: { "tg.partition": entry.partition, "tg.entry": entry.entryId }
        }).pipe(Effect.ensuring(finished(entry.partition)))

      const mailboxes = yield* makeMailboxes<number, StreamEntry>({
        idle,
        handle: processEntry,
        started: Metric.modify(Metrics.actorsActive, 1),
        stopped: (chatId) =>
          Effect.andThen(Effect.sync(() => committed.delete(chatId)), Metric.modify(Metrics.actorsActive, -1))
      })

      // A chat lives in one partition and each partition has one reader, so dispatches for a chat never race.
      const dispatch = (entry: StreamEntry) =>
        Effect.suspend(() => {
          partitions.started(entry.partition)
          return mailboxes.post(entry.chatId, entry)
        })

      return { reserve: slots.reserve, unreserve: slots.unreserve, dispatch, drained: partitions.drained }
    })
  )
}
