/**
 * Injected trouble: a fixed plus random latency before a call is handled, and a rate of 5xx
 * answers in place of handling it. Both apply to the methods named in the settings (by default
 * every sending method). Randomness comes from Effect's `Random`, so a test can seed it.
 */
import { Context, Effect, Layer, Random } from "effect"
import * as Http from "node:http"
import { type BotApiError, serverError } from "./BotApiError.ts"
import { type FaultSettings, Settings } from "./Options.ts"

export class Faults extends Context.Service<Faults, {
  readonly current: () => FaultSettings
  /** Changes some settings and returns the settings now in force. */
  readonly configure: (patch: Partial<FaultSettings>) => FaultSettings
  /** Sleeps the injected latency, then fails with an injected 5xx at the configured rate. */
  readonly inject: (method: string, sending: boolean) => Effect.Effect<void, BotApiError>
  readonly reset: Effect.Effect<void>
}>()("tg-gateway/emulator/Faults") {
  static readonly layer = Layer.effect(Faults)(Effect.gen(function*() {
    const settings = yield* Settings
    let faults = settings.faults
    let methods = methodSet(faults)

    const applies = (method: string, sending: boolean) =>
      methods === null ? sending : methods.has(method.toLowerCase())

    return {
      current: () => faults,
      configure: (patch) => {
        faults = { ...faults, ...patch }
        methods = methodSet(faults)
        return faults
      },
      inject: (method, sending) =>
        Effect.suspend(() => {
          if (!applies(method, sending)) return Effect.void
          const { latencyMs, jitterMs, errorRate, errorStatus } = faults
          return Effect.gen(function*() {
            const delay = latencyMs + (jitterMs > 0 ? (yield* Random.next) * jitterMs : 0)
            if (delay > 0) yield* Effect.sleep(delay)
            if (errorRate > 0 && (yield* Random.next) < errorRate) {
              return yield* serverError(errorStatus, Http.STATUS_CODES[errorStatus] ?? "Internal Server Error")
            }
          })
        }),
      reset: Effect.sync(() => {
        faults = settings.faults
        methods = methodSet(faults)
      })
    }
  }))
}

const methodSet = (faults: FaultSettings): ReadonlySet<string> | null =>
  faults.methods === null ? null : new Set(faults.methods.map((method) => method.toLowerCase()))
