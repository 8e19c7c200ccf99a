/**
 * The one way out to the Bot API. Every call names its lane (interactive handler replies, platform
 * notifications, bulk mailings) and carries an idempotency key: a key already sent answers with the recorded
 * result instead of sending again, across retries, restarts and partition takeovers.
 *
 * Telegram has no idempotency key of its own, so a call whose process died mid-flight is "in doubt": the
 * record says an attempt started but not how it ended. Such a call is not sent again (at most once) and fails
 * with `InDoubt`; the handler bridge treats it as sent.
 *
 * Messages wait for a permit of the shared `SendLimits` (by lane, then chat). A 429 pauses every process for
 * its `retry_after` and the call tries again first in line; a group upgraded to a supergroup is written to at
 * its new id (`migrate_to_chat_id`); other errors are the caller's to retry.
 */
import { Context, Effect, Layer, Metric, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import type { UserFromGetMe } from "grammy/types"
import { BotApi, TelegramError, TransportError } from "./BotApi.ts"
import * as Metrics from "../src/metrics.ts"
import { hotSpan } from "../layers/Telemetry.ts"
import { Keys } from "../streams/Keys.ts"
import { isRateLimited, type Lane, SendLimits } from "./SendLimits.ts"

export type { Lane }

export type OutboundCall = {
  readonly method: string
  readonly params: Readonly<Record<string, unknown>>
  readonly lane: Lane
  readonly idempotencyKey: string
  /**
   * No earlier attempt with this key can exist (an update's first delivery, first try): the call skips the
   * look for a recorded outcome before waiting for its permit. The claim still guards against sending twice.
   */
  readonly fresh?: boolean
  /**
   * A last look once the permit is granted, right before the request: a reason not to send after all (the player
   * unlinked or withdrew a consent while the message waited), or `undefined` to send.
   */
  readonly recheck?: Effect.Effect<WithdrawnReason | undefined>
  /**
   * Takes the writes that record a sent call's outcome (and the chat's pacing in Redis) instead of the call
   * waiting for them: the caller makes them durable before it acknowledges its work (a chat actor does, in the
   * round trip of its commit). Until then the claim stands for the call, so a call made again in between is in
   * doubt: never sent twice.
   */
  readonly deferRecord?: (write: Effect.Effect<void, Redis.RedisError>) => void
}

/** An earlier attempt with this key started and never recorded its outcome. */
export class InDoubt extends Schema.TaggedError<InDoubt>()("InDoubt", { idempotencyKey: Schema.String }) {}

/** Why a queued message is not sent after all: the player unlinked, withdrew the consent, or it is past its deadline. */
export const WithdrawnReason = Schema.Literals(["unlinked", "no_consent", "late"])
export type WithdrawnReason = typeof WithdrawnReason.Type

/** The call's `recheck` said not to send after all: nothing was sent. */
export class Withdrawn extends Schema.TaggedError<Withdrawn>()("Withdrawn", { why: WithdrawnReason }) {}

export { TelegramError, TransportError }

export class SendError extends Schema.TaggedError<SendError>()("SendError", {
  method: Schema.String,
  reason: Schema.Union([TelegramError, TransportError, InDoubt, Withdrawn])
}) {
  get retryable(): boolean {
    const r = this.reason
    return r._tag === "TransportError" || (r._tag === "TelegramError" && (r.code === 429 || r.code >= 500))
  }
  override get message(): string {
    const r = this.reason
    return `${this.method}: ${r._tag === "TelegramError" ? `${r.code} ${r.description}` : r._tag === "InDoubt"
      ? "in doubt" : r._tag === "Withdrawn" ? `withdrawn: ${r.why}` : r.message}`
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
      const limits = yield* SendLimits

      const invoke = (method: string, params: Readonly<Record<string, unknown>>) =>
        api.call(method, params).pipe(Effect.mapError((e) => new SendError({ method, reason: e.reason })))

      /** The recorded outcome of an earlier call with this key, if any. */
      const recorded = (call: OutboundCall, previous: string) =>
        Effect.gen(function*() {
          if (previous === "P") {
            yield* Metric.update(Metrics.sendInDoubt, 1)
            return yield* new SendError({
              method: call.method,
              reason: new InDoubt({ idempotencyKey: call.idempotencyKey })
            })
          }
          yield* Metric.update(Metrics.sendDeduplicated, 1)
          return JSON.parse(previous.slice(1)) as unknown
        })

      /** A permit, with no pause since it was granted. */
      const permitNotPaused = (lane: Lane, chatId: number | null) =>
        Effect.flatMap(limits.permit(lane, chatId), (permit) =>
          permit.immediate ? Effect.succeed(permit.slotAt) : Effect.as(limits.holdIfPaused, permit.slotAt))

      /** A permit whose slot is not long past, and when that slot was; none for unlimited methods. */
      const permitFor = (call: OutboundCall, retaken: number) =>
        Effect.gen(function*() {
          // The chat's own slot is taken with the first permit: a retaken one comes from the lane and bot alone.
          let slotAt = yield* permitNotPaused(call.lane, retaken === 0 ? chatIdOf(call.params) : null)
          for (; isLate(slotAt) && retaken < maxRetakes; retaken++) {
            slotAt = yield* permitNotPaused(call.lane, null)
          }
          return { slotAt, retaken }
        })

      /**
       * One attempt: a permit from the shared limits, the claim, the call, the record. A permit whose slot passed
       * long ago (this process was descheduled) is not used: sending late would put this message right behind
       * others sent on time, and Telegram counts in sliding windows. Lateness is looked at once more after the
       * claim, the last step before the request, so a stall in between cannot send a burst of late messages.
       */
      const attempt = (call: OutboundCall, key: string) =>
        Effect.gen(function*() {
          const limited = isRateLimited(call.method)
          let retaken = 0
          // The recheck runs before the permit (a message no longer wanted takes no token) and, when the permit
          // kept it waiting, once more after it; not on every permit, so a slow store does not make permits late.
          let checkedAt = -Infinity
          const recheck = call.recheck === undefined ? undefined : Effect.flatMap(call.recheck, (why) => {
            checkedAt = Date.now()
            return why === undefined ? Effect.void : Effect.fail(new SendError({ method: call.method, reason: new Withdrawn({ why }) }))
          })
          const due = () => recheck !== undefined && Date.now() - checkedAt > recheckAfterMs
          while (true) {
            if (due()) yield* recheck!
            let slotAt = Date.now()
            if (limited) ({ slotAt, retaken } = yield* permitFor(call, retaken))
            if (due()) yield* recheck!
            // From the claim to the record, a send is not interrupted (a shutdown or a partition hand-over waits
            // for it): an interrupted HTTP request would leave its message in doubt.
            const outcome = yield* Effect.uninterruptible(Effect.gen(function*() {
              const previous = yield* claim(key, pendingTtlS)
              if (previous !== null) return { sent: yield* recorded(call, previous) }
              if (limited && isLate(slotAt) && retaken < maxRetakes) {
                yield* redis.send("DEL", key)
                return undefined
              }
              const result = yield* invoke(call.method, call.params).pipe(
                Effect.tapError((error) =>
                  Effect.all([
                    // Telegram refused it: nothing was sent, so a later attempt may send.
                    redis.send("DEL", key),
                    Metric.update(Metrics.sendErrors(errorCode(error)), 1)
                  ], { discard: true }).pipe(Effect.ignore)
                )
              )
              const chatId = limited ? chatIdOf(call.params) : null
              // This process notes the send at once; Redis's note goes with the record, which may be deferred.
              yield* limits.sentHere(chatId)
              const record = Effect.all([
                redis.send("SET", key, "D" + JSON.stringify(result ?? null), "EX", String(doneTtlS)),
                limits.sentShared(chatId)
              ], { concurrency: 2, discard: true })
              if (call.deferRecord === undefined) yield* record
              else call.deferRecord(record)
              yield* Metric.update(Metrics.messagesSent(call.lane, call.method), 1)
              return { sent: result }
            }))
            if (outcome !== undefined) return outcome.sent
            retaken++
          }
        })

      const call = (call: OutboundCall) => Effect.withSpan(send(call), "send", {
        ...hotSpan,
        attributes: { "tg.method": call.method, "tg.lane": call.lane }
      })

      const send = Effect.fnUntraced(function*(call: OutboundCall) {
        const key = keys.outbound(call.idempotencyKey)
        // A key already recorded answers at once, without waiting for a permit.
        if (call.fresh !== true) {
          const previous = yield* redis.send<string | null>("GET", key)
          if (previous !== null) return yield* recorded(call, previous)
        }
        // 429: every process pauses for `retry_after` and this message goes first again once the pause ends.
        // A group that became a supergroup: Telegram names the new chat id; the message goes there instead.
        return yield* attempt(call, key).pipe(
          Effect.catchIf(isMigrated, (error) => {
            const chatId = error.reason._tag === "TelegramError" ? error.reason.migrateToChatId : undefined
            return Effect.andThen(
              Effect.logInfo("group upgraded to a supergroup; sending there", { method: call.method }),
              attempt({ ...call, params: { ...call.params, chat_id: chatId } }, key)
            )
          }),
          Effect.tapError((error) =>
            isFloodWait(error)
              ? Effect.andThen(
                Metric.update(Metrics.floodWaitHits, 1),
                limits.pause(floodWaitSeconds(error)).pipe(Effect.ignore)
              )
              : Effect.void
          ),
          Effect.retry({ while: isFloodWait, times: maxFloodWaits })
        )
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

/** A recheck older than this when the permit arrives is done again. */
const recheckAfterMs = 250

/** How late after its slot a permit may still be used. */
const maxLatenessMs = 20

/** How many times a late permit is replaced before the message goes anyway. */
const maxRetakes = 3

const isLate = (slotAt: number): boolean => Date.now() - slotAt > maxLatenessMs

/** How many 429s in a row one call waits out before failing (each one pauses the whole bot). */
const maxFloodWaits = 10

const isMigrated = (error: SendError | Redis.RedisError): error is SendError =>
  error._tag === "SendError" && error.reason._tag === "TelegramError" && error.reason.migrateToChatId !== undefined

const isFloodWait = (error: SendError | Redis.RedisError): error is SendError =>
  error._tag === "SendError" && error.reason._tag === "TelegramError" && error.reason.code === 429

const floodWaitSeconds = (error: SendError): number =>
  error.reason._tag === "TelegramError" ? error.reason.retryAfter ?? 1 : 1

/** The numeric chat a call writes to; channel usernames (`@name`) count against the global limit only. */
const chatIdOf = (params: Readonly<Record<string, unknown>>): number | null => {
  const chatId = params["chat_id"]
  if (typeof chatId === "number" && Number.isSafeInteger(chatId)) return chatId
  if (typeof chatId === "string" && /^-?\d+$/.test(chatId)) return Number(chatId)
  return null
}

const errorCode = (error: SendError): string =>
  error.reason._tag === "TelegramError" ? String(error.reason.code) : error.reason._tag === "InDoubt"
    ? "in_doubt" : error.reason._tag === "Withdrawn" ? "withdrawn" : "transport"
