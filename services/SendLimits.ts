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
 * before notify before bulk), and only the dispenser asks Redis, for up to 32 waiting sends per call, highest
 * lane first. Hundreds of waiting chats therefore cost at most one Redis call per sent message, not one per
 * chat per retry, and a fast bot is not held to one permit per Redis round trip.
 */
import { Context, Deferred, Duration, Effect, Exit, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Env from "../src/config.ts"
import { Keys } from "../streams/Keys.ts"

export type Lane = "interactive" | "notify" | "bulk"
export const lanes: ReadonlyArray<Lane> = ["interactive", "notify", "bulk"]

/** Methods Telegram counts against the message limits (what its emulator counts too). */
export const isRateLimited = (method: string): boolean =>
  /^(send(?!ChatAction$)|edit|copyMessage|forwardMessage)/.test(method)

/**
 * Takes slots for several waiting sends at once, in the order given (the dispenser lists them by lane priority).
 * KEYS: pause, global, then per send its lane (the global key again when the lane has no ceiling) and its chat.
 * ARGV: global interval ms, global tolerance ms, then per send its lane interval ms (0: none), chat interval ms
 * (0: none) and horizon ms.
 * Returns `{reason, ms}` per send: "ok" with the delay until its reserved slot (the lane and global buckets may
 * be reserved up to the send's `horizon` ahead), or what is in the way ("pause", "chat", "lane", "global") and
 * how long until it clears. Once the global bucket refuses a send, later sends with the same or a shorter
 * horizon are refused too: a lower lane never takes what a higher one could not.
 */
const acquireScript = Redis.script(
  (keys: ReadonlyArray<string>, args: ReadonlyArray<number>) => [...keys, ...args],
  {
    numberOfKeys: (keys: ReadonlyArray<string>) => keys.length,
    lua: `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local n = (#KEYS - 2) / 2
local out = {}
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then
  for i = 1, n do out[#out + 1] = 'pause'; out[#out + 1] = paused end
  return out
end
local gi, gt = tonumber(ARGV[1]), tonumber(ARGV[2])
local function tat(key)
  local v = tonumber(redis.call('GET', key) or '0')
  if v < now then return now end
  return v
end
local function put(key, value) redis.call('SET', key, string.format('%.3f', value), 'PX', math.ceil(value - now) + 1000) end
local stoppedAt, stopped = nil, nil
for i = 1, n do
  local laneKey, chatKey = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local li, ci, horizon = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local reason, ms = 'ok', 0
  if stoppedAt and horizon <= stoppedAt then
    reason, ms = 'global', stopped
  else
    local chat = ci > 0 and tat(chatKey) or now
    local lane = li > 0 and tat(laneKey) or now
    if chat > now then
      reason, ms = 'chat', math.ceil(chat - now)
    elseif lane - now > horizon then
      reason, ms = 'lane', math.ceil(lane - now - horizon)
    else
      local global = tat(KEYS[2])
      local slot = math.max(global - gt, lane, now)
      if slot - now > horizon then
        stoppedAt, stopped = horizon, math.ceil(slot - now - horizon)
        reason, ms = 'global', stopped
      else
        put(KEYS[2], math.max(global, slot) + gi)
        if li > 0 then put(laneKey, slot + li) end
        if ci > 0 then put(chatKey, slot + ci) end
        ms = math.floor(slot - now)
      end
    end
  end
  out[#out + 1] = reason
  out[#out + 1] = ms
end
return out`
  }
).withReturnType<ReadonlyArray<string | number>>()

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

/**
 * A permit: when its slot was due (ms, this process's clock: the caller can tell how late it is sending), and
 * whether it came straight from the script with no wait, so that the script's own look at the pause is as recent
 * as another look would be.
 */
export type Permit = { readonly slotAt: number; readonly immediate: boolean }

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

/**
 * How far ahead a send may reserve its slot of the lane and global buckets, by lane. A bulk send only takes the
 * next slot; a reply or a notification may book one further out, past the slots a running mailing keeps
 * taking, so it goes out within a few slots of asking instead of racing every bulk sender for each one: bulk
 * never takes the last tokens.
 */
const reserveAheadMs: Readonly<Record<Lane, number>> = { interactive: 100, notify: 30, bulk: 5 }

/** At most this many waiting sends are asked for in one script call. */
const maxBatch = 32

type Waiting = {
  readonly lane: Lane
  readonly chatId: number | null
  /** Completed with the delay until the reserved slot. */
  readonly granted: Deferred.Deferred<number>
  cancelled: boolean
}

export class SendLimits extends Context.Service<SendLimits, {
  /** Waits until this process may send one message to `chatId` on `lane` (null: no chat limit applies). */
  readonly permit: (lane: Lane, chatId: number | null) => Effect.Effect<Permit>
  /**
   * Tells this process a message to `chatId` has just been sent: the chat's next one waits a full interval from
   * now, so a message that left late cannot have the next one arrive too close.
   */
  readonly sentHere: (chatId: number | null) => Effect.Effect<void>
  /**
   * Tells the other processes the same, through Redis (e.g. after a partition moved). The interval counts from
   * when this runs, so a caller may write it a little later (with its other writes): the next slot only moves later.
   */
  readonly sentShared: (chatId: number | null) => Effect.Effect<void, Redis.RedisError>
  /**
   * Waits out a pause another process has set since this permit was granted: the last look before sending,
   * so a permit granted just before a 429 elsewhere does not go out during the pause. A permit granted with no
   * wait needs none: the script that granted it looked at the pause a moment ago.
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

      /** Slots for `sends`, in order, in one script call. */
      const acquireAll = (sends: ReadonlyArray<{ readonly lane: Lane; readonly chatId: number | null }>) => {
        const keyList = [keys.limits("pause"), keys.limits("global")]
        const args = [paced.globalIntervalMs, paced.globalToleranceMs]
        for (const { chatId, lane } of sends) {
          const laneInterval = paced.laneIntervalMs[lane]
          keyList.push(keys.limits(laneInterval > 0 ? `lane:${lane}` : "global"), keys.limits(`chat:${chatId ?? 0}`))
          args.push(
            laneInterval,
            chatId === null ? 0 : chatId < 0 ? paced.groupIntervalMs : paced.chatIntervalMs,
            reserveAheadMs[lane]
          )
        }
        return Effect.map(acquire(keyList, args), (flat) =>
          sends.map((_, i): Acquired => ({
            reason: flat[2 * i] as Acquired["reason"],
            waitMs: Number(flat[2 * i + 1])
          })))
      }
      const tryAcquire = (lane: Lane, chatId: number | null) =>
        Effect.map(acquireAll([{ lane, chatId }]), (results) => results[0]!)

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

      /** The waiting sends asked for in one go: the heads of the open lanes, highest lane first. */
      const batch = (now: number): Array<Waiting> => {
        const picked: Array<Waiting> = []
        for (const lane of lanes) {
          if (blockedUntil[lane] > now) continue
          for (const waiting of queues[lane]) {
            if (picked.length === maxBatch) return picked
            picked.push(waiting)
          }
        }
        return picked
      }

      const step = Effect.gen(function*() {
        const now = Date.now()
        const state = nextLane(now)
        if (state === "idle" || state === "blocked") {
          const until = Math.min(...lanes.filter((l) => queues[l].length > 0).map((l) => blockedUntil[l]))
          yield* state === "idle" ? Deferred.await(wake) : sleepOrWake(until - now)
          wake = Deferred.makeUnsafe<void>()
          return
        }
        const asked = batch(now)
        const results = yield* acquireAll(asked).pipe(
          Effect.catch((error) =>
            Effect.as(
              Effect.logWarning("send limits: Redis unavailable, retrying", { error: String(error.cause) }),
              asked.map((): Acquired => ({ reason: "global", waitMs: 250 }))
            )
          )
        )
        for (let i = 0; i < asked.length; i++) {
          const waiting = asked[i]!
          const result = results[i]!
          const lane = waiting.lane
          // A send may have given up (interrupted) while Redis answered: take it out by identity, not position.
          const remove = () => {
            const at = queues[lane].indexOf(waiting)
            if (at >= 0) queues[lane].splice(at, 1)
          }
          switch (result.reason) {
            case "ok": {
              remove()
              Deferred.doneUnsafe(waiting.granted, Exit.succeed(result.waitMs))
              break
            }
            case "chat": {
              // This chat must wait; the others behind it need not. It rejoins the front of its lane when due.
              remove()
              if (waiting.cancelled) break
              yield* Effect.forkDetach(
                Effect.andThen(Effect.sleep(Duration.millis(result.waitMs)), Effect.sync(() => {
                  if (waiting.cancelled) return
                  queues[lane].unshift(waiting)
                  signal()
                }))
              )
              break
            }
            case "lane": {
              blockedUntil[lane] = Math.max(blockedUntil[lane], now + result.waitMs)
              break
            }
            case "global": {
              // Full for this lane's horizon: also for the lanes below it, not for those that may book further.
              for (const l of lanes) {
                if (reserveAheadMs[l] <= reserveAheadMs[lane]) {
                  blockedUntil[l] = Math.max(blockedUntil[l], now + result.waitMs)
                }
              }
              break
            }
            case "pause": {
              for (const l of lanes) blockedUntil[l] = Math.max(blockedUntil[l], now + result.waitMs)
              break
            }
          }
        }
      })

      yield* Effect.forever(step).pipe(Effect.forkScoped)

      const intervalOf = (chatId: number) => chatId < 0 ? paced.groupIntervalMs : paced.chatIntervalMs
      /** Chat -> when its next message may leave, after the last one this process sent there. */
      const nextForChat = new Map<number, number>()
      const sentHere = (chatId: number | null) =>
        Effect.sync(() => {
          if (chatId === null) return
          const now = Date.now()
          // A little later than Redis will allow, so the dispenser is not refused by a clock a few ms apart.
          nextForChat.set(chatId, now + intervalOf(chatId) + 15)
          if (nextForChat.size > 100_000) {
            for (const [chat, at] of nextForChat) if (at <= now) nextForChat.delete(chat)
          }
        })
      const sentShared = (chatId: number | null) =>
        chatId === null ? Effect.void : Effect.asVoid(markSent(keys.limits(`chat:${chatId}`), intervalOf(chatId)))
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
            Effect.flatMap((delayMs): Effect.Effect<Permit> => {
              const slotAt = Date.now() + delayMs
              return delayMs > 0
                ? Effect.as(Effect.sleep(Duration.millis(delayMs)), { slotAt, immediate: false })
                : Effect.succeed({ slotAt, immediate: Date.now() >= pausedUntil })
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

      return { permit, sentHere, sentShared, holdIfPaused, pause, tryAcquire, pacing: paced }
    })
  )
}
