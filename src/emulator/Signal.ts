/**
 * A change signal: every part of the emulator state calls `notify` after it changes, and waiters
 * (long polling, webhook delivery, `awaitMessages` in tests) re-check their condition on each
 * change instead of sleeping. A waiter that checks and then waits cannot miss a change, because
 * the check and the registration happen in one synchronous step.
 */
import { Context, Deferred, Effect, Layer } from "effect"

export class Signal extends Context.Service<Signal, {
  /** Wakes every waiter. Synchronous, for use inside state mutations. */
  readonly notify: () => void
  /** Waits until `poll` returns a value other than `undefined`, re-polling after each change. */
  readonly waitUntil: <A>(poll: () => A | undefined) => Effect.Effect<A>
}>()("tg-gateway/emulator/Signal") {
  static readonly layer = Layer.sync(Signal)(() => {
    // Created only while someone waits, so notifying without waiters costs nothing.
    let current: Deferred.Deferred<void> | undefined

    const notify = () => {
      if (current !== undefined) {
        Deferred.doneUnsafe(current, Effect.void)
        current = undefined
      }
    }

    const waitUntil = <A>(poll: () => A | undefined): Effect.Effect<A> =>
      Effect.suspend(() => {
        const value = poll()
        if (value !== undefined) return Effect.succeed(value)
        current ??= Deferred.makeUnsafe<void>()
        return Effect.flatMap(Deferred.await(current), () => waitUntil(poll))
      })

    return { notify, waitUntil }
  })
}
