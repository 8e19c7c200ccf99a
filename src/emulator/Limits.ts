/**
 * Telegram's flood control, emulated: sliding-window limits per bot (global per second), per
 * private chat (per second) and per group (per minute); a cap on requests in flight; and forced
 * floods (the next N sending calls, or all of them for a while, answer 429).
 *
 * Windows are sliding, so no window of the configured length ever admits more than the limit:
 * a call is admitted only while fewer than `limit` calls were admitted in the preceding window,
 * and `retry_after` is the time until the oldest of them leaves it, rounded up to seconds.
 */
import { Context, Effect, Layer } from "effect"
import { type BotApiError, tooManyRequests } from "./BotApiError.ts"
import { type RateLimits, Settings } from "./Options.ts"
import { PreciseNow } from "./PreciseTime.ts"

export interface FloodOptions {
  /** The next `count` sending calls answer 429. */
  readonly count?: number
  /** Every sending call answers 429 for this long, in ms. */
  readonly durationMs?: number
  /** The `retry_after` of the forced answers, in seconds. */
  readonly retryAfter: number
}

export class Limits extends Context.Service<Limits, {
  readonly current: () => RateLimits
  /** Changes some limits; `null` turns one off. Returns the limits now in force. */
  readonly configure: (patch: Partial<RateLimits>) => RateLimits
  /** Admits a sending call at `now` (ms), or returns the 429 Telegram would answer. */
  readonly admit: (botId: number, chatId: number | null, now: number) => BotApiError | undefined
  /** Counts a request in flight, or returns the in-flight 429. Pair with `leave`. */
  readonly enter: (botId: number) => BotApiError | undefined
  readonly leave: (botId: number) => void
  /** Replaces the forced flood; `{ count: 0, retryAfter: 0 }` ends it. */
  readonly flood: (options: FloodOptions) => void
  /** Consumes one forced 429 if a flood is on. */
  readonly takeFlood: (now: number) => BotApiError | undefined
  readonly reset: Effect.Effect<void>
}>()("tg-gateway/emulator/Limits") {
  static readonly layer = Layer.effect(Limits)(Effect.gen(function*() {
    const settings = yield* Settings
    const preciseNow = yield* PreciseNow
    let limits = settings.limits
    let windows = new Map<string, Array<number>>()
    let admitted = 0

    /** Forgets windows with nothing in the last minute, so many one-off chats do not pile up. */
    const sweep = (now: number) => {
      for (const [key, window] of windows) {
        const last = window[window.length - 1]
        if (last === undefined || last <= now - 60_000) windows.delete(key)
      }
    }
    const inFlight = new Map<number, number>()
    let flood = { remaining: 0, until: 0, retryAfter: 0 }

    const windowOf = (key: string) => {
      let window = windows.get(key)
      if (window === undefined) {
        window = []
        windows.set(key, window)
      }
      return window
    }

    /** Milliseconds until the window has room, 0 when it has room now. */
    const waitFor = (window: Array<number>, limit: number, windowMs: number, now: number) => {
      let expired = 0
      while (expired < window.length && window[expired]! <= now - windowMs) expired++
      if (expired > 0) window.splice(0, expired)
      if (limit <= 0) return windowMs
      return window.length < limit ? 0 : window[window.length - limit]! + windowMs - now
    }

    return {
      current: () => limits,
      configure: (patch) => {
        limits = { ...limits, ...patch }
        return limits
      },
      admit: (botId, chatId, now) => {
        const checks: Array<readonly [Array<number>, number, number]> = []
        if (limits.globalPerSecond !== null) checks.push([windowOf(`g:${botId}`), limits.globalPerSecond, 1000])
        if (chatId !== null && chatId > 0 && limits.chatPerSecond !== null) {
          checks.push([windowOf(`c:${botId}:${chatId}`), limits.chatPerSecond, 1000])
        }
        if (chatId !== null && chatId < 0 && limits.groupPerMinute !== null) {
          checks.push([windowOf(`c:${botId}:${chatId}`), limits.groupPerMinute, 60_000])
        }
        let waitMs = 0
        for (const [window, limit, windowMs] of checks) waitMs = Math.max(waitMs, waitFor(window, limit, windowMs, now))
        if (waitMs > 0) return tooManyRequests(waitMs / 1000)
        for (const [window] of checks) window.push(now)
        if (++admitted % 10_000 === 0) sweep(now)
        return undefined
      },
      enter: (botId) => {
        const current = inFlight.get(botId) ?? 0
        if (limits.maxInFlight !== null && current >= limits.maxInFlight) {
          return tooManyRequests(limits.inFlightRetryAfter)
        }
        inFlight.set(botId, current + 1)
        return undefined
      },
      leave: (botId) => {
        const current = inFlight.get(botId) ?? 0
        if (current <= 1) inFlight.delete(botId)
        else inFlight.set(botId, current - 1)
      },
      flood: (options) => {
        flood = {
          remaining: options.count ?? 0,
          until: options.durationMs === undefined ? 0 : preciseNow() + options.durationMs,
          retryAfter: options.retryAfter
        }
      },
      takeFlood: (now) => {
        if (flood.remaining > 0) {
          flood.remaining--
          return tooManyRequests(flood.retryAfter)
        }
        return now < flood.until ? tooManyRequests(flood.retryAfter) : undefined
      },
      reset: Effect.sync(() => {
        limits = settings.limits
        windows = new Map()
        flood = { remaining: 0, until: 0, retryAfter: 0 }
        // In-flight counts are left alone: they belong to requests still running.
      })
    }
  }))
}
