/**
 * Webhook load from `bench/load/httpload.c`, a small C generator compiled on first use with the machine's C
 * compiler (`cc`). A generator in Node shares the event loop's and the collector's pauses with what it measures:
 * on this machine it reported a p99 of 14-47 ms for a bare server that answers in 0.1 ms. Without a compiler the
 * benchmarks fall back to the Node generator in `load.ts` and say so (`generator: "node"`).
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { closedLoop, type LoadResult, openLoop } from "./load.ts"
import { messageBody } from "./updates.ts"
import { root } from "./proc.ts"

const source = Path.join(root, "bench", "load", "httpload.c")
const binary = Path.join(root, "node_modules", ".cache", "tg-gateway-bench", "httpload")

let compiled: boolean | undefined

/** Builds the generator when its binary is missing or older than its source; false when no compiler works. */
const ensureCompiled = (): boolean => {
  if (compiled !== undefined) return compiled
  const fresh = Fs.existsSync(binary) && Fs.statSync(binary).mtimeMs >= Fs.statSync(source).mtimeMs
  if (!fresh) {
    Fs.mkdirSync(Path.dirname(binary), { recursive: true })
    const result = ChildProcess.spawnSync("cc", ["-O2", "-o", binary, source], { encoding: "utf8" })
    if (result.status !== 0) {
      process.stderr.write(`bench: cannot compile ${source} (${result.error?.message ?? result.stderr.trim()}); `
        + "using the Node load generator, whose own pauses inflate the tail latencies\n")
      return (compiled = false)
    }
  }
  return (compiled = true)
}

export const generator = (): "c" | "node" => (ensureCompiled() ? "c" : "node")

export type WebhookLoad = {
  readonly port: number
  readonly path: string
  readonly secret: string
  /** Updates per second (open loop), or 0 for a closed loop. */
  readonly rate: number
  readonly seconds: number
  readonly connections: number
  readonly chats: number
  readonly firstUpdateId: number
  /** Chat ids are `firstChatId + update_id % chats` (default 1,000,000). */
  readonly firstChatId?: number
  /** Also returns when each request answered 2xx was scheduled (wall clock), for end-to-end latencies. */
  readonly schedule?: boolean
}

/**
 * A request: its update and chat, and when it was scheduled (ms since the epoch). The C generator lists those
 * answered 2xx; the Node one (without a C compiler) every request, at the moment it was sent.
 */
export type Scheduled = { readonly updateId: number; readonly chatId: number; readonly at: number }

/** Posts message updates to `127.0.0.1:port` + `path`, as `load.ts` would, with the fastest generator at hand. */
export const webhookLoad = async (
  load: WebhookLoad
): Promise<LoadResult & { readonly schedule: ReadonlyArray<Scheduled> }> => {
  const firstChatId = load.firstChatId ?? 1_000_000
  if (!ensureCompiled()) {
    let next = load.firstUpdateId
    const schedule: Array<Scheduled> = []
    const request = () => {
      const updateId = next++
      // The Node generator asks for a request when it sends it, a little after it was due.
      if (load.schedule === true) {
        schedule.push({ updateId, chatId: firstChatId + (updateId % load.chats), at: performance.timeOrigin + performance.now() })
      }
      return {
        path: load.path,
        body: messageBody(updateId, load.chats, firstChatId),
        headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": load.secret }
      }
    }
    const origin = `http://127.0.0.1:${load.port}`
    const result = await (load.rate > 0
      ? openLoop(origin, { rate: load.rate, seconds: load.seconds, connections: load.connections }, request)
      : closedLoop(origin, { concurrency: load.connections, seconds: load.seconds }, request))
    return { ...result, schedule }
  }
  const scheduleFile = load.schedule === true
    ? Path.join(Os.tmpdir(), `httpload-${process.pid}-${load.firstUpdateId}.txt`)
    : undefined
  const args = [
    "127.0.0.1",
    load.port,
    load.path,
    load.secret,
    load.rate,
    load.seconds,
    load.connections,
    load.chats,
    load.firstUpdateId,
    firstChatId,
    ...(scheduleFile === undefined ? [] : [scheduleFile])
  ].map(String)
  const output = await new Promise<string>((resolve, reject) =>
    ChildProcess.execFile(binary, args, { encoding: "utf8" }, (error, stdout, stderr) =>
      error ? reject(new Error(`httpload failed: ${stderr || error.message}`)) : resolve(stdout))
  )
  const r = JSON.parse(output) as {
    sent: number
    seconds: number
    rate: number
    p50: number
    p90: number
    p99: number
    max: number
    ok: number
    non_2xx: number
    errors: number
  }
  return {
    sent: r.sent,
    seconds: r.seconds,
    rate: r.rate,
    p50: r.p50,
    p90: r.p90,
    p99: r.p99,
    max: r.max,
    statuses: { "2xx": r.ok, "other": r.non_2xx },
    errors: r.errors,
    schedule: scheduleFile === undefined ? [] : readSchedule(scheduleFile)
  }
}

const readSchedule = (file: string): ReadonlyArray<Scheduled> => {
  const lines = Fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "")
  Fs.rmSync(file, { force: true })
  return lines.map((line) => {
    const [updateId, chatId, at] = line.split(" ").map(Number) as [number, number, number]
    return { updateId, chatId, at }
  })
}
