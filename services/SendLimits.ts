/**
 * Telegram's sending limits, shared by every process through Redis: a global rate per bot, a rate per private
 * chat and per group, a lower ceiling for each queued lane, and a bot-wide pause after a 429.
 *
 * Each limit is a GCRA bucket (one "theoretical arrival time" per key, in Redis server time, so host clocks
 * never matter). One Lua script checks the pause, the chat, the lane ceiling and the global bucket and takes
 * from all of them at once, or from none: a refused send never wastes another bucket's token. It answers with
 * what is in the way and for how long.
 *
 * effect's persistence `RateLimiter` was the first candidate; it checks one key per call, so a send that needs
 * the chat, lane and bot buckets together would lose tokens whenever a later bucket refuses, and it has no
 * notion of a lane that must leave room for another. Its token-bucket model is what the script follows.
 *
 * In each process a `Dispenser` fiber hands out permits: waiting sends queue locally by lane (interactive
 * before notify before bulk), and only the dispenser asks Redis, once per permit or per refusal. Hundreds of
 * waiting chats therefore cost one Redis call per sent message, not one per chat per retry.
 */
import { Context, Deferred, Duration, Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Env from "../src/config.ts"
import { Keys } from "../streams/Keys.ts"

export type Lane = "interactive" | "notify" | "bulk"
export const lanes: ReadonlyArray<Lane> = ["interactive", "notify", "bulk"]

/** Methods Telegram counts against the message limits (what its emulator counts too). */
export const isRateLimited = (method: string): boolean =>
  /^(send(?!ChatAction$)|edit|copyMessage|forwardMessage)/.test(method)

/**
 * KEYS: pause, global, lane (may be the global key again when the lane has no ceiling), chat.
 * ARGV: global interval ms, global tolerance ms, lane interval ms (0: none), chat interval ms, horizon ms.
 * Returns `{reason, ms}`: "ok" with the delay until the reserved slot (the lane and global buckets may be
 * reserved up to `horizon` ahead, so a sender that wakes late does not lose its turn), or what is in the way
 * ("pause", "chat", "lane", "global") and how long until it clears.
 */
const acquireScript = Redis.script(
  (
    pause: string,
    global: string,
    lane: string,
    chat: string,
    gi: number,
    gt: number,
    li: number,
    ci: number,
    horizon: number
  ) => [pause, global, lane, chat, gi, gt, li, ci, horizon],
  {
    numberOfKeys: 4,
    lua: `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then return {'pause', paused} end
local gi, gt, li, ci, horizon = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function tat(key)
  local v = tonumber(redis.call('GET', key) or '0')
  if v < now then return now end
  return v
end
local chat = ci > 0 and tat(KEYS[4]) or now
if chat > now then return {'chat', math.ceil(chat - now)} end
local lane = li > 0 and tat(KEYS[3]) or now
if lane - now > horizon then return {'lane', math.ceil(lane - now - horizon)} end
local global = tat(KEYS[2])
local slot = math.max(global - gt, lane, now)
if slot - now > horizon then return {'global', math.ceil(slot - now - horizon)} end
local function put(key, value) redis.call('SET', key, string.format('%.3f', value), 'PX', math.ceil(value - now) + 1000) end
put(KEYS[2], math.max(global, slot) + gi)
if li > 0 then put(KEYS[3], slot + li) end
if ci > 0 then put(KEYS[4], slot + ci) end
return {'ok', math.floor(slot - now)}`
  }
).withReturnType<[reason: string, ms: number]>()

/** KEYS: chat. ARGV: chat interval ms. After a send: the chat's next slot is a full interval from now, at least. */
const sentScript = Redis.script((chat: string, ci: number) => [chat, ci], {
  numberOfKeys: 1,
  lua: `
local t = redis.call('TIME')
local next = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 + tonumber(ARGV[1])
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v < next then redis.call('SET', KEYS[1], string.format('%.3f', next), 'PX', math.ceil(ARGV[1]) + 1000) end
return 1`
}).withReturnType<number>()

/** KEYS: pause. ARGV: ms. Extends the pause to at least `ms` from now, never shortens it. */
const pauseScript = Redis.script((pause: string, ms: number) => [pause, ms], {
  numberOfKeys: 1,
  lua: `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1`
}).withReturnType<number>()

/** "ok": a slot was reserved, `waitMs` from now; otherwise what is in the way and for how long. */
export type Acquired = { readonly reason: "ok" | "pause" | "chat" | "lane" | "global"; readonly waitMs: number }

/** The pacing each bucket uses, derived from the configured limits. */
export type Pacing = {
  readonly globalIntervalMs: number
  readonly globalToleranceMs: number
  readonly laneIntervalMs: Readonly<Record<Lane, number>>
  readonly chatIntervalMs: number
  readonly groupIntervalMs: number
}

/**
 * Telegram (and the emulator) count messages in sliding windows, and a message sent on time may arrive a little
 * late or early: every interval is paced at `safety` of its limit, and the global bucket allows only a burst of
 * a quarter of that margin, so the rest absorbs requests that arrive closer together than they were let go.
 */
export const pacing = (limits: {
  readonly globalPerSecond: number
  readonly chatPerSecond: number
  readonly groupPerMinute: number
  readonly notifyShare: number
  readonly bulkShare: number
  readonly safety: number
}): Pacing => {
  const globalIntervalMs = 1000 / (limits.globalPerSecond * limits.safety)
  // A small burst lets a sender that woke late use the slot it missed; most of the margin below the limit stays
  // for requests that arrive closer together than they left.
  const burst = Math.max(1, Math.floor((limits.globalPerSecond * (1 - limits.safety)) / 4))
  return {
    globalIntervalMs,
    globalToleranceMs: (burst - 1) * globalIntervalMs,
    laneIntervalMs: {
      interactive: 0,
      notify: limits.notifyShare >= 1 ? 0 : globalIntervalMs / limits.notifyShare,
      bulk: limits.bulkShare >= 1 ? 0 : globalIntervalMs / limits.bulkShare
    },
    chatIntervalMs: 1000 / (limits.chatPerSecond * limits.safety),
    groupIntervalMs: 60_000 / (limits.groupPerMinute * limits.safety)
  }
}

/** How far ahead a process may reserve its next slots of the lane and global buckets. */
const reserveAheadMs = 5

type Waiting = {
  readonly lane: Lane
  readonly chatId: number | null
  /** Completed with the delay until the reserved slot. */
  readonly granted: Deferred.Deferred<number>
  cancelled: boolean
}

export class SendLimits extends Context.Service<SendLimits, {
  /** Waits until this process may send one message to `chatId` on `lane` (null: no chat limit applies). */
  /** Returns when its slot was due (ms, this process's clock): the caller can tell how late it is sending. */
  readonly permit: (lane: Lane, chatId: number | null) => Effect.Effect<number>
  /**
   * Tells the limits a message to `chatId` has been sent: the chat's next one waits a full interval from now
   * (in this process and in Redis), so a message that left late cannot have the next one arrive too close.
   */
  readonly sent: (chatId: number | null) => Effect.Effect<void, Redis.RedisError>
  /**
   * Waits out a pause another process has set since this permit was granted: the last look before sending,
   * so a permit granted just before a 429 elsewhere does not go out during the pause.
   */
  readonly holdIfPaused: Effect.Effect<void, Redis.RedisError>
  /** After a 429: every process stops sending for `retryAfterS` seconds. */
  readonly pause: (retryAfterS: number) => Effect.Effect<void, Redis.RedisError>
  /** One attempt at the buckets, for tests and tools. */
  readonly tryAcquire: (lane: Lane, chatId: number | null) => Effect.Effect<Acquired, Redis.RedisError>
  readonly pacing: Pacing
}>()("tg-gateway/services/SendLimits") {
  static readonly layer = Layer.effect(SendLimits)(
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = yield* Keys
      const paced = pacing({
        globalPerSecond: yield* Env.globalRate,
        chatPerSecond: yield* Env.chatRate,
        groupPerMinute: yield* Env.groupRatePerMinute,
        notifyShare: yield* Env.notifyShare,
        bulkShare: yield* Env.bulkShare,
        safety: yield* Env.rateSafety
      })
      const acquire = redis.eval(acquireScript)
      const pauseFor = redis.eval(pauseScript)
      const markSent = redis.eval(sentScript)

      const tryAcquire = (lane: Lane, chatId: number | null) => {
        const chatInterval = chatId === null ? 0 : chatId < 0 ? paced.groupIntervalMs : paced.chatIntervalMs
        const laneInterval = paced.laneIntervalMs[lane]
        return Effect.map(
          acquire(
            keys.limits("pause"),
            keys.limits("global"),
            keys.limits(laneInterval > 0 ? `lane:${lane}` : "global"),
            keys.limits(`chat:${chatId ?? 0}`),
            paced.globalIntervalMs,
            paced.globalToleranceMs,
            laneInterval,
            chatInterval,
            reserveAheadMs
          ),
          ([reason, waitMs]): Acquired => ({ reason: reason as Acquired["reason"], waitMs: Number(waitMs) })
        )
      }

      // The dispenser: local queues by lane, served in priority order.
      const queues: Record<Lane, Array<Waiting>> = { interactive: [], notify: [], bulk: [] }
      const blockedUntil: Record<Lane, number> = { interactive: 0, notify: 0, bulk: 0 }
      let wake = Deferred.makeUnsafe<void>()
      const signal = () => Deferred.doneUnsafe(wake, Effect.void)

      const nextLane = (now: number): Lane | "blocked" | "idle" => {
        let waiting = false
        for (const lane of lanes) {
          if (queues[lane].length === 0) continue
          waiting = true
          if (blockedUntil[lane] <= now) return lane
        }
        return waiting ? "blocked" : "idle"
      }

      const sleepOrWake = (ms: number) =>
        Effect.raceFirst(Effect.sleep(Duration.millis(Math.max(1, ms))), Deferred.await(wake))

      const step = Effect.gen(function*() {
        const now = Date.now()
        const lane = nextLane(now)
        if (lane === "idle" || lane === "blocked") {
          const until = Math.min(...lanes.filter((l) => queues[l].length > 0).map((l) => blockedUntil[l]))
          yield* lane === "idle" ? Deferred.await(wake) : sleepOrWake(until - now)
          wake = Deferred.makeUnsafe<void>()
          return
        }
        const head = queues[lane][0]!
        const result = yield* tryAcquire(lane, head.chatId).pipe(
          Effect.catch((error) =>
            Effect.as(
              Effect.logWarning("send limits: Redis unavailable, retrying", { error: String(error.cause) }),
              { reason: "global", waitMs: 250 } satisfies Acquired
            )
          )
        )
        // The head may have given up (interrupted) while Redis answered: take it out by identity, not position.
        const remove = () => {
          const at = queues[lane].indexOf(head)
          if (at >= 0) queues[lane].splice(at, 1)
        }
        switch (result.reason) {
          case "ok": {
            remove()
            yield* Deferred.succeed(head.granted, result.waitMs)
            return
          }
          case "chat": {
            // This chat must wait; the others behind it need not. It rejoins the front of its lane when due.
            remove()
            if (head.cancelled) return
            yield* Effect.forkDetach(Effect.andThen(Effect.sleep(Duration.millis(result.waitMs)), Effect.sync(() => {
              if (head.cancelled) return
              queues[lane].unshift(head)
              signal()
            })))
            return
          }
          case "lane": {
            blockedUntil[lane] = now + result.waitMs
            return
          }
          case "global":
          case "pause": {
            for (const l of lanes) blockedUntil[l] = now + result.waitMs
            return
          }
        }
      })

      yield* Effect.forever(step).pipe(Effect.forkScoped)

      const intervalOf = (chatId: number) => chatId < 0 ? paced.groupIntervalMs : paced.chatIntervalMs
      /** Chat -> when its next message may leave, after the last one this process sent there. */
      const nextForChat = new Map<number, number>()
      // Both here and in Redis (for the other processes, e.g. after a partition moved).
      const sent = (chatId: number | null) =>
        Effect.suspend(() => {
          if (chatId === null) return Effect.void
          const now = Date.now()
          // A little later than Redis will allow, so the dispenser is not refused by a clock a few ms apart.
          nextForChat.set(chatId, now + intervalOf(chatId) + 15)
          if (nextForChat.size > 100_000) {
            for (const [chat, at] of nextForChat) if (at <= now) nextForChat.delete(chat)
          }
          return Effect.asVoid(markSent(keys.limits(`chat:${chatId}`), intervalOf(chatId)))
        })
      /** Until this process's own pause ends (set at once on a 429, before Redis has it). */
      let pausedUntil = 0
      const waitUntil = (at: number) => {
        const ms = at - Date.now()
        return ms > 0 ? Effect.sleep(Duration.millis(ms)) : Effect.void
      }

      const permit = (lane: Lane, chatId: number | null) =>
        Effect.suspend(() => {
          const granted = Deferred.makeUnsafe<number>()
          const waiting: Waiting = { lane, chatId, granted, cancelled: false }
          const chatReady = chatId === null ? 0 : nextForChat.get(chatId) ?? 0
          return Effect.andThen(
            waitUntil(chatReady),
            Effect.suspend(() => {
              queues[lane].push(waiting)
              signal()
              return Deferred.await(granted)
            })
          ).pipe(
            Effect.flatMap((delayMs) => {
              const slotAt = Date.now() + delayMs
              return Effect.as(delayMs > 0 ? Effect.sleep(Duration.millis(delayMs)) : Effect.void, slotAt)
            }),
            // A permit granted just before a 429 reached this process waits the pause out too.
            Effect.tap(() => Effect.suspend(() => waitUntil(pausedUntil))),
            Effect.onInterrupt(() =>
              Effect.sync(() => {
                waiting.cancelled = true
                const queue = queues[lane]
                const at = queue.indexOf(waiting)
                if (at >= 0) queue.splice(at, 1)
              })
            )
          )
        })

      const pause = (retryAfterS: number) =>
        Effect.suspend(() => {
          const ms = Math.max(1, Math.ceil(retryAfterS * 1000))
          pausedUntil = Math.max(pausedUntil, Date.now() + ms)
          return Effect.asVoid(pauseFor(keys.limits("pause"), ms))
        })

      const holdIfPaused = Effect.flatMap(redis.send<number>("PTTL", keys.limits("pause")), (ms) => {
        if (ms <= 0) return Effect.void
        pausedUntil = Math.max(pausedUntil, Date.now() + ms)
        return waitUntil(pausedUntil)
      })

      return { permit, sent, holdIfPaused, pause, tryAcquire, pacing: paced }
    })
  )
}
