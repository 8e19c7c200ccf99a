/** Child processes for benchmarks: start a Node script with an environment, wait until it answers, stop it. */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"

export const root = Path.join(import.meta.dirname, "..", "..")

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

export type Proc = {
  readonly stop: () => Promise<void>
  readonly output: () => string
  /** CPU time (user + system) the process has used so far, in ms; `undefined` where `/proc` is not there. */
  readonly cpuMs: () => number | undefined
}

/** Fields 14 and 15 of `/proc/<pid>/stat` (utime, stime) in clock ticks, 100 per second on Linux. */
const cpuMsOf = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/**
 * `BENCH_NODE_ARGS` adds Node options to every child process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` for
 * V8 CPU profiles (open them in Chrome DevTools) or `--trace-gc` (the child's output is kept for errors).
 */
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(/\s+/).filter((arg) => arg !== "")

/** `BENCH_LOG_DIR` keeps each child's whole output in `<dir>/<pid>.log` (e.g. with `--trace-gc`). */
const logDir = process.env.BENCH_LOG_DIR

export const startNode = async (script: string, env: Record<string, string>, readyUrl: string): Promise<Proc> => {
  const child = ChildProcess.spawn(process.execPath, [...nodeArgs, Path.join(root, script)], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  if (logDir !== undefined) {
    const log = Fs.createWriteStream(Path.join(logDir, `${child.pid}.log`))
    log.write(`${script} ROLES=${env["ROLES"] ?? ""} spawned at ${Date.now()} (ms since the epoch)\n`)
    child.stdout.pipe(log)
    child.stderr.pipe(log)
  }
  child.stdout.on("data", (d) => (output = (output + String(d)).slice(-10_000)))
  child.stderr.on("data", (d) => (output = (output + String(d)).slice(-10_000)))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once("exit", resolve))
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
    await exited
    clearTimeout(timer)
  }
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${script} exited: ${output}`)
    const ok = await fetch(readyUrl).then((r) => r.ok, () => false)
    if (ok) return { stop, output: () => output, cpuMs: () => cpuMsOf(child.pid) }
    await new Promise((r) => setTimeout(r, 100))
  }
  await stop()
  throw new Error(`${script} did not become ready: ${output}`)
}
