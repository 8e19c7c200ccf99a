/** Child processes for multi-process tests, killed when the scope closes. */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"

const root = Path.join(import.meta.dirname, "..", "..")

export type Child = { readonly process: ChildProcess.ChildProcess; readonly output: () => string }

/** Runs a TypeScript entry point on this Node (24) with `env` added to the current environment. */
export const spawnNode = (entry: string, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync((): Child => {
      const child = ChildProcess.spawn(process.execPath, [Path.join(root, entry)], {
        cwd: root,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout.on("data", (d) => (output = (output + String(d)).slice(-20_000)))
      child.stderr.on("data", (d) => (output = (output + String(d)).slice(-20_000)))
      return { process: child, output: () => output }
    }),
    (child) =>
      Effect.promise(async () => {
        if (child.process.exitCode !== null || child.process.signalCode !== null) return
        const exited = new Promise((resolve) => child.process.once("exit", resolve))
        child.process.kill("SIGTERM")
        const timer = setTimeout(() => child.process.kill("SIGKILL"), 10_000)
        await exited
        clearTimeout(timer)
      })
  )

/** Polls `check` every 50 ms until it holds or `timeoutMs` passes; fails with `what` on timeout. */
export const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeoutMs = 30_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for: ${what}`))
      yield* Effect.sleep("50 millis")
    }
  })
