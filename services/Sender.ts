/**
 * The one way out to the Bot API. Every call names its lane (interactive handler replies, platform
 * notifications, bulk mailings) and carries an idempotency key: a key already sent answers with the recorded
 * result instead of sending again, across retries, restarts and partition takeovers.
 *
 * Telegram has no idempotency key of its own, so a call whose process died mid-flight is "in doubt": the
 * record says an attempt started but not how it ended. Such a call is not sent again (at most once) and fails
 * with `InDoubt`; the handler bridge treats it as sent. Rate limits, lanes and FloodWait handling arrive behind
 * this same interface.
 */
import { Context, Effect, Layer, Metric, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import type { UserFromGetMe } from "grammy/types"
import { BotApi, TelegramError, TransportError } from "./BotApi.ts"
import * as Metrics from "../src/metrics.ts"
import { Keys } from "../streams/Keys.ts"

export type Lane = "interactive" | "notify" | "bulk"

export type OutboundCall = {
  readonly method: string
  readonly params: Readonly<Record<string, unknown>>
  readonly lane: Lane
  readonly idempotencyKey: string
}

/** An earlier attempt with this key started and never recorded its outcome. */
export class InDoubt extends Schema.TaggedError<InDoubt>()("InDoubt", { idempotencyKey: Schema.String }) {}

export { TelegramError, TransportError }

export class SendError extends Schema.TaggedError<SendError>()("SendError", {
  method: Schema.String,
  reason: Schema.Union([TelegramError, TransportError, InDoubt])
}) {
  get retryable(): boolean {
    const r = this.reason
    return r._tag === "TransportError" || (r._tag === "TelegramError" && (r.code === 429 || r.code >= 500))
  }
  override get message(): string {
    const r = this.reason
    return `${this.method}: ${r._tag === "TelegramError" ? `${r.code} ${r.description}` : r._tag === "InDoubt"
      ? "in doubt" : r.message}`
  }
}

export class Sender extends Context.Service<Sender, {
  readonly call: (call: OutboundCall) => Effect.Effect<unknown, SendError | Redis.RedisError>
  /** `getMe`, cached for the process: needed by grammY to match commands addressed to the bot. */
  readonly botInfo: Effect.Effect<BotInfo, SendError>
}>()("tg-gateway/services/Sender") {
  static readonly layer = Layer.effect(Sender)(
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = yield* Keys
      const api = yield* BotApi
      const claim = redis.eval(claimScript)

      const invoke = (method: string, params: Readonly<Record<string, unknown>>) =>
        api.call(method, params).pipe(Effect.mapError((e) => new SendError({ method, reason: e.reason })))

      const call = Effect.fn("send")(function*(call: OutboundCall) {
        yield* Effect.annotateCurrentSpan({ "tg.method": call.method, "tg.lane": call.lane })
        const key = keys.outbound(call.idempotencyKey)
        const previous = yield* claim(key, pendingTtlS)
        if (previous !== null) {
          if (previous === "P") {
            yield* Metric.update(Metrics.sendInDoubt, 1)
            return yield* new SendError({
              method: call.method,
              reason: new InDoubt({ idempotencyKey: call.idempotencyKey })
            })
          }
          yield* Metric.update(Metrics.sendDeduplicated, 1)
          return JSON.parse(previous.slice(1)) as unknown
        }
        const result = yield* invoke(call.method, call.params).pipe(
          Effect.tapError((error) =>
            Effect.all([
              redis.send("DEL", key),
              Metric.update(Metrics.sendErrors(errorCode(error)), 1),
              error.reason._tag === "TelegramError" && error.reason.code === 429
                ? Metric.update(Metrics.floodWaitHits, 1)
                : Effect.void
            ], { discard: true }).pipe(Effect.ignore)
          )
        )
        yield* redis.send("SET", key, "D" + JSON.stringify(result ?? null), "EX", String(doneTtlS))
        yield* Metric.update(Metrics.messagesSent(call.lane, call.method), 1)
        return result
      })

      const botInfo = yield* Effect.cached(
        invoke("getMe", {}).pipe(Effect.map((me) => me as BotInfo))
      )
      return { call, botInfo }
    })
  )
}

export type BotInfo = UserFromGetMe

const pendingTtlS = 3600
/** Longer than Telegram keeps an update for retries (24 h), so a replayed update never sends twice. */
const doneTtlS = 2 * 86_400

/** KEYS: record. ARGV: pending ttl. Returns the record ("P" pending, "D<json>" done) or nil after claiming. */
const claimScript = Redis.script((key: string, ttl: number) => [key, ttl], {
  numberOfKeys: 1,
  lua: `
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], 'P', 'EX', ARGV[1])
return false`
}).withReturnType<string | null>()

const errorCode = (error: SendError): string =>
  error.reason._tag === "TelegramError" ? String(error.reason.code) : error.reason._tag === "InDoubt"
    ? "in_doubt" : "transport"
