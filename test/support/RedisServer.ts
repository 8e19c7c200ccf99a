/**
 * A private `redis-server` for tests that stop and restart Redis. It writes an append-only file (fsync on
 * every write) in its own directory, so a restart keeps what was acknowledged, as a production Redis must.
 */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as Net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.once("data", (data) => {
      socket.destroy()
      resolve(data.toString().startsWith("+PONG"))
    })
    socket.once("error", () => resolve(false))
  })

export type PrivateRedis = {
  readonly url: string
  readonly stop: Effect.Effect<void>
  readonly start: Effect.Effect<void>
}

/** Starts a private Redis for the scope; `stop`/`start` take it down and bring it back with its data. */
export const privateRedis = Effect.gen(function*() {
  const port = yield* Effect.promise(freePort)
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tg-redis-"))
  let child: ChildProcess.ChildProcess | undefined

  const start = Effect.promise(async () => {
    child = ChildProcess.spawn("redis-server", [
      "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
      "--appendonly", "yes", "--appendfsync", "always"
    ], { stdio: "ignore" })
    for (let i = 0; i < 200 && !(await answers(port)); i++) await new Promise((r) => setTimeout(r, 25))
  })
  const stop = Effect.promise(async () => {
    const running = child
    if (running === undefined || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once("exit", resolve))
    running.kill("SIGTERM") // redis-server flushes the append-only file and exits
    await exited
  })
  yield* Effect.acquireRelease(start, () =>
    Effect.andThen(stop, Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))))
  return { url: `redis://127.0.0.1:${port}`, stop, start } satisfies PrivateRedis
})
