/**
 * The sender role: drains the outbox lanes of the partitions this process owns (see `Ownership`), one actor
 * per lane and chat so a chat's messages leave in order while different chats wait for their own limits.
 *
 * Every message goes through `Sender` (shared limits, idempotency, 429 pauses). What happens after an error:
 * - 403 (blocked, deactivated, kicked): the chat is marked unreachable; no retry.
 * - 400 and other refusals: dead-lettered with Telegram's description; no retry.
 * - 5xx, network, a 429 that outlasted the sender's patience: retried with jittered exponential backoff, then
 *   dead-lettered.
 * - in doubt (an earlier attempt died mid-flight): counted as sent, never repeated.
 * The entry is acknowledged once its outcome is recorded; a crash before that re-delivers it to the next owner,
 * whose `Sender` answers from the idempotency record instead of sending again. A partition handed over lets
 * its waiting messages go at once (the next owner claims them), so a mailing does not stall while senders join.
 *
 * Before its permit (and again if the permit kept it waiting), a notification is looked at once more: not sent when the
 * player unlinked the chat or turned the consent off meanwhile (`guard`, see `OutboxGuard`), or when its deadline
 * passed (`not_after`: a tournament reminder after the start).
 *
 * An entry with a `receipt` (a mailing's recipient) has its outcome told to `OutboxReceipts` before the ack, and
 * is held back when its receipt says so (a paused or cancelled mailing): a message still waiting for a permit or
 * a retry is given up and acknowledged unsent; one whose request is under way is sent and counted as sent. When
 * the sender's Redis kept failing through every attempt, such an entry is not dead-lettered: it is told as
 * `store_unavailable` (its recipient is queued again by a later wave, the idempotency record still applying).
 */
import { Clock, Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Metric, Option, type Result, Schedule } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Env from "../src/config.ts"
import * as Backoff from "../src/domain/Backoff.ts"
import * as Metrics from "../src/metrics.ts"
import { hotSpan, spanFromTraceparent } from "../layers/Telemetry.ts"
import { Chats } from "../services/Chats.ts"
import { decodeGuard, OutboxGuard } from "../services/OutboxGuard.ts"
import { type SendError, Sender } from "../services/Sender.ts"
import { makeMailboxes, makePartitionTracker, makeSlots } from "./Actors.ts"
import { Keys } from "./Keys.ts"
import { decodeQueuedCall, type QueuedLane } from "./Outbox.ts"
import { OutboxReceipts, type ReceiptOutcome } from "./OutboxReceipts.ts"
import { makeOwnership, type Ownership } from "./Ownership.ts"
import { field, maintainStream, readStream } from "./PartitionConsumer.ts"

type Entry = {
  readonly lane: QueuedLane
  readonly partition: number
  readonly epoch: number
  readonly entryId: string
  readonly chatId: number
  readonly message: string
  readonly traceparent: string
  readonly receipt: string | undefined
  readonly guard: string | undefined
  readonly notAfter: string | undefined
}

type Outcome = ReceiptOutcome

const queuedLanes: ReadonlyArray<QueuedLane> = ["notify", "bulk"]

export class OutboxSender extends Context.Service<OutboxSender, {
  readonly memberId: string
  readonly owned: Effect.Effect<ReadonlyArray<number>>
}>()("tg-gateway/streams/OutboxSender") {
  static readonly layer = Layer.effect(OutboxSender)(
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = yield* Keys
      const sender = yield* Sender
      const chats = yield* Chats
      const receipts = yield* OutboxReceipts
      const guards = yield* OutboxGuard
      const maxInFlight = yield* Env.senderMaxInFlight
      const maxAttempts = yield* Env.sendMaxAttempts
      const retryBase = Duration.millis(yield* Env.sendRetryBaseMs)
      const idle = Duration.millis(yield* Env.actorIdleMs)

      const slots = { notify: yield* makeSlots(maxInFlight), bulk: yield* makeSlots(maxInFlight) }
      const partitions = makePartitionTracker()
      /** `partition:epoch` -> completed when that ownership lets go; its waiting messages are then dropped. */
      const letGo = new Map<string, Deferred.Deferred<void>>()
      const currentEpoch = new Map<number, number>()
      const letGoOf = (partition: number, epoch: number) => {
        const key = `${partition}:${epoch}`
        let signal = letGo.get(key)
        if (signal === undefined) letGo.set(key, signal = Deferred.makeUnsafe<void>())
        return signal
      }

      /** At most one "store unavailable" warning per 10 s in this process (an outage, not one line per message). */
      let warnedAt = Number.NEGATIVE_INFINITY
      const warnUnavailable = (error: unknown) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (now - warnedAt < 10_000) return Effect.void
          warnedAt = now
          return Effect.logWarning("outbox: store unavailable, retrying", { error: String(error) })
        })

      /** Store failures (Redis, Postgres for the guard) are retried until they pass: the entry stays pending meanwhile. */
      const persistently = <A, E>(effect: Effect.Effect<A, E>) =>
        effect.pipe(
          Effect.tapError(warnUnavailable),
          Effect.retry({ schedule: Schedule.spaced("250 millis") }),
          Effect.orDie
        )

      const finished = (entry: Entry) =>
        Effect.andThen(slots[entry.lane].unreserve(1), partitions.finished(entry.partition))

      const deadLetter = (entry: Entry, error: string, attempts: number) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          yield* persistently(redis.send(
            "XADD", keys.outboxDeadLetter, "MAXLEN", "~", "100000", "*",
            "message", entry.message,
            "error", error,
            "chat", String(entry.chatId),
            "lane", entry.lane,
            "entry", entry.entryId,
            "attempts", String(attempts),
            "failed_at", new Date(now).toISOString(),
            "traceparent", entry.traceparent,
            // Kept for a replay: the message goes back as it was queued.
            ...(entry.receipt === undefined ? [] : ["receipt", entry.receipt]),
            ...(entry.guard === undefined ? [] : ["guard", entry.guard]),
            ...(entry.notAfter === undefined ? [] : ["not_after", entry.notAfter])
          ))
          yield* Effect.logWarning("outbox message dead-lettered", { lane: entry.lane, entry: entry.entryId, error })
          return "dead_letter" as const
        })

      const retryable = (error: SendError) => {
        const r = error.reason
        return r._tag === "TransportError" || (r._tag === "TelegramError" && (r.code === 429 || r.code >= 500))
      }

      const send = (entry: Entry): Effect.Effect<Outcome> =>
        Effect.gen(function*() {
          const call = decodeQueuedCall(entry.message)
          if (Option.isNone(call)) return yield* deadLetter(entry, "malformed outbox entry", 0)
          // A notification may wait in the outbox a while (a backlog, the chat's own pace): the player may have
          // unlinked or said no meanwhile. The sender looks before taking a permit, and again if it waited long.
          // A message with a deadline (a reminder: the tournament's start) is not sent once it has passed.
          const guard = entry.guard === undefined ? Option.none() : decodeGuard(entry.guard)
          const notAfter = entry.notAfter === undefined ? undefined : Number(entry.notAfter)
          const recheck = Option.isNone(guard) && notAfter === undefined ? undefined : Effect.gen(function*() {
            if (notAfter !== undefined && (yield* Clock.currentTimeMillis) > notAfter) return "late" as const
            return Option.isSome(guard) ? yield* persistently(guards.check(entry.chatId, guard.value)) : undefined
          })
          let attempts = 0
          const attempt = Effect.suspend(() => {
            attempts++
            return sender.call({
              method: call.value.method,
              params: call.value.params,
              lane: entry.lane,
              idempotencyKey: call.value.key,
              ...(recheck === undefined ? {} : { recheck })
            })
          }).pipe(
            // Redis trouble inside the sender: wait it out, the message is still ours to send.
            Effect.catchTag("RedisError", (error) => Effect.fail({ _tag: "Store" as const, error })),
            Effect.retry({
              while: (e) => e._tag === "Store" || (e._tag === "SendError" && retryable(e)),
              schedule: Backoff.capped(retryBase, "30 seconds"),
              times: maxAttempts - 1
            }),
            Effect.result
          )
          const outcome = entry.receipt === undefined ? yield* attempt : yield* unlessHeld(attempt, entry.receipt, call.value.key)
          if (outcome === "withheld" || outcome === "cancelled" || outcome === "sent") return outcome
          if (outcome._tag === "Success") return "sent" as const
          const failure = outcome.failure
          // A mailing's recipient goes back to pending (a later wave queues it again); anything else is kept as a
          // dead letter, to be sent again by hand.
          if (failure._tag === "Store") {
            return entry.receipt === undefined
              ? yield* deadLetter(entry, `store unavailable: ${String(failure.error.cause)}`, attempts)
              : "store_unavailable" as const
          }
          const reason = failure.reason
          if (reason._tag === "InDoubt") return "sent" as const
          if (reason._tag === "Withdrawn") return reason.why
          if (reason._tag === "TelegramError" && reason.code === 403) {
            yield* persistently(chats.markUnreachable(entry.chatId, reason.description))
            yield* Metric.update(Metrics.chatsUnreachable, 1)
            return "unreachable" as const
          }
          return yield* deadLetter(entry, failure.message, attempts)
        })

      /**
       * Runs the attempts unless the receipt's hold comes first. Then attempts waiting for a permit or a retry are
       * interrupted; a request already under way finishes first (the sender does not interrupt it), and if it went
       * out (its idempotency record says so), the message counts as sent, not held.
       */
      const unlessHeld = <A, E>(attempt: Effect.Effect<Result.Result<A, E>>, receipt: string, key: string) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(attempt)
          const first = yield* Effect.raceFirst(
            Effect.map(Fiber.join(fiber), (done) => ({ done })),
            Effect.map(receipts.hold(receipt), (held) => ({ held }))
          )
          if ("done" in first) return first.done
          yield* Fiber.interrupt(fiber)
          const exit = yield* Fiber.await(fiber)
          if (Exit.isSuccess(exit)) return exit.value
          const record = yield* persistently(redis.send<string | null>("GET", keys.outbound(key)))
          return record === null ? first.held : "sent" as const
        })

      const sendAndAck = (entry: Entry) =>
        send(entry).pipe(
          Effect.tap((outcome) =>
            Effect.andThen(
              Effect.andThen(
                entry.receipt === undefined ? Effect.void : persistently(receipts.record(entry.receipt, entry.chatId, outcome)),
                persistently(redis.send("XACK", keys.outbox(entry.lane, entry.partition), keys.outboxGroup, entry.entryId))
              ),
              Metric.update(Metrics.outboxFinished(entry.lane, outcome), 1)
            )
          )
        )

      /** Sends, unless this process lets the entry's partition go first (then the next owner sends it). */
      const handle = (entry: Entry) =>
        Effect.suspend(() => {
          const signal = letGoOf(entry.partition, entry.epoch)
          return Deferred.isDoneUnsafe(signal)
            ? Effect.void
            : Effect.asVoid(Effect.raceFirst(sendAndAck(entry), Deferred.await(signal)))
        }).pipe(
          (effect) => Effect.withSpan(effect, "outbox", {
            ...hotSpan,
            kind: "consumer",
            parent: Option.getOrUndefined(spanFromTraceparent(entry.traceparent)),
            attributes: { "tg.lane": entry.lane, "tg.partition": entry.partition, "tg.entry": entry.entryId }
          }),
          Effect.ensuring(finished(entry))
        )

      const mailboxes = yield* makeMailboxes<string, Entry>({ idle, handle })

      // A chat lives in one partition with one reader per lane, so dispatches for a lane and chat never race.
      const dispatch = (entry: Entry) =>
        Effect.suspend(() => {
          partitions.started(entry.partition)
          return mailboxes.post(`${entry.lane}:${entry.chatId}`, entry)
        })

      /**
       * Lets a partition go at once (hand-over, lost lease, shutdown): messages still waiting for a permit are
       * dropped unacknowledged, so the next owner claims them from the stream; a send already under way
       * finishes first (it is uninterruptible from its idempotency claim to its record).
       */
      const release = (partition: number) =>
        Effect.gen(function*() {
          const epoch = currentEpoch.get(partition)
          if (epoch === undefined) return
          yield* Deferred.succeed(letGoOf(partition, epoch), undefined)
          yield* partitions.drained(partition)
          letGo.delete(`${partition}:${epoch}`)
        })

      const readLane = (own: Ownership, lane: QueuedLane) =>
        readStream<Entry>({
          stream: keys.outbox(lane, own.partition),
          group: keys.outboxGroup,
          own,
          reserve: slots[lane].reserve,
          unreserve: slots[lane].unreserve,
          dispatch,
          toEntry: (id, fields) => ({
            lane,
            partition: own.partition,
            epoch: own.epoch,
            entryId: id,
            chatId: Number(field(fields, "chat") ?? 0),
            message: field(fields, "message") ?? "",
            traceparent: field(fields, "traceparent") ?? "",
            receipt: field(fields, "receipt"),
            guard: field(fields, "guard"),
            notAfter: field(fields, "not_after")
          })
        })

      const context = yield* Effect.context<Redis.Redis>()
      const upkeep = (partition: number) =>
        Effect.forEach(queuedLanes, (lane) =>
          maintainStream(keys.outbox(lane, partition), keys.outboxGroup, `outbox:${lane}:${partition}`), {
          discard: true
        })

      return yield* makeOwnership({
        name: "sender",
        partitions: keys.partitions,
        members: keys.outboxMembers,
        lease: keys.outboxLease,
        epoch: keys.outboxEpoch,
        leaseMs: yield* Env.leaseMs,
        run: (own) =>
          Effect.andThen(
            Effect.sync(() => currentEpoch.set(own.partition, own.epoch)),
            Effect.all([
              readLane(own, "notify"),
              readLane(own, "bulk"),
              upkeep(own.partition).pipe(Effect.repeat(Schedule.spaced("5 seconds")))
            ], { concurrency: "unbounded", discard: true })
          ).pipe(Effect.provide(context)),
        drained: release
      })
    })
  )
}
