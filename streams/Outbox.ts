/**
 * The outbox: messages queued for the sender role, in two lanes (`notify` for platform events, `bulk` for
 * mailings), each a Redis stream partitioned by chat like the update stream. A chat's messages land in one
 * partition, which one sender process owns at a time, so they leave in the order they were queued.
 *
 * Interactive replies do not queue here: the worker's chat actor sends them itself, through the same shared
 * limits, ahead of both lanes.
 */
import { Context, Effect, Layer, Metric, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Metrics from "../src/metrics.ts"
import type { Guard } from "../services/OutboxGuard.ts"
import { Keys } from "./Keys.ts"

export type QueuedLane = "notify" | "bulk"

export type OutboxMessage = {
  readonly lane: QueuedLane
  readonly chatId: number
  readonly method: string
  readonly params: Readonly<Record<string, unknown>>
  /** Sending the same key twice sends once, across processes and restarts. */
  readonly idempotencyKey: string
  readonly traceparent?: string | undefined
  /** Told to the outbox's receipts with the message's outcome (a mailing's recipient, for its progress). */
  readonly receipt?: string | undefined
  /** Checked just before sending: the chat still linked to this player, with this consent on (`OutboxGuard`). */
  readonly guard?: Guard | undefined
  /** Not sent after this instant (ms since the epoch): a reminder of a tournament that has started is noise. */
  readonly notAfter?: number | undefined
}

/** The `message` field of an outbox entry. */
export const QueuedCall = Schema.Struct({
  method: Schema.String,
  params: Schema.Record(Schema.String, Schema.Unknown),
  key: Schema.String
})
export const decodeQueuedCall = Schema.decodeUnknownOption(Schema.fromJsonString(QueuedCall))

export class Outbox extends Context.Service<Outbox, {
  readonly enqueue: (message: OutboxMessage) => Effect.Effect<void, Redis.RedisError>
  /** Appends many messages, pipelined; per chat they keep the order of the array. */
  readonly enqueueAll: (messages: ReadonlyArray<OutboxMessage>) => Effect.Effect<void, Redis.RedisError>
}>()("tg-gateway/streams/Outbox") {
  static readonly layer = Layer.effect(Outbox)(
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = yield* Keys
      const enqueue = (message: OutboxMessage) =>
        Effect.andThen(
          redis.send(
            "XADD", keys.outbox(message.lane, keys.partitionOf(message.chatId)), "*",
            "message", JSON.stringify({ method: message.method, params: message.params, key: message.idempotencyKey }),
            "chat", String(message.chatId),
            "traceparent", message.traceparent ?? "",
            ...(message.receipt === undefined ? [] : ["receipt", message.receipt]),
            ...(message.guard === undefined ? [] : ["guard", JSON.stringify(message.guard)]),
            ...(message.notAfter === undefined ? [] : ["not_after", String(message.notAfter)])
          ),
          Metric.update(Metrics.outboxQueued(message.lane), 1)
        )
      // One connection keeps the order of commands, so concurrent appends still land in array order per stream.
      const enqueueAll = (messages: ReadonlyArray<OutboxMessage>) =>
        Effect.forEach(messages, enqueue, { concurrency: 64, discard: true })
      return { enqueue, enqueueAll }
    })
  )
}
