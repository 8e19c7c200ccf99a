/**
 * The emulator's time source: Unix time in ms with sub-millisecond precision, read as
 * `performance.timeOrigin + performance.now()` so timestamps compare with those a client takes the
 * same way. A `Context.Reference`, so a test can replace it.
 */
import { Context } from "effect"

export const PreciseNow = Context.Reference<() => number>("tg-gateway/emulator/PreciseNow", {
  defaultValue: () => () => performance.timeOrigin + performance.now()
})

/** Telegram's `date`: whole Unix seconds. */
export const unixSeconds = (ms: number): number => Math.floor(ms / 1000)
