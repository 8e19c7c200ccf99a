/**
 * tg-gateway: starts the roles listed in `ROLES` (all by default) and runs until SIGTERM/SIGINT, then drains
 * in-flight updates and hands its partitions over. A start-up failure (a bad or missing setting, Redis or
 * Postgres not answering) prints one line naming the cause and exits 1.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Layer } from "effect"
import * as Roles from "../layers/Roles.ts"
import { describeStartupFailure } from "./StartupError.ts"

const main = Layer.launch(Roles.app).pipe(
  Effect.catchCause((cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.void
      : Effect.sync(() => {
        process.stderr.write(`tg-gateway: ${describeStartupFailure(cause)}\n`)
        process.exitCode = 1
      })
  )
)

NodeRuntime.runMain(main, { disableErrorReporting: true })
