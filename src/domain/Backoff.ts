/** Jittered exponential backoff that stops growing at `cap`, for loops that must outlive any outage. */
import { Duration, Effect, Schedule } from "effect"

export const capped = (base: Duration.Input, cap: Duration.Input) => {
  const capMs = Duration.toMillis(Duration.fromInputUnsafe(cap))
  return Schedule.exponential(base).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.millis(Math.min(Duration.toMillis(duration), capMs)))),
    Schedule.jittered
  )
}
