/**
 * End to end: update -> webhook -> stream -> chat actor -> the bot's Composer -> Sender -> Bot API, at a fixed
 * offered load of 1,000 updates/s over 1,000 chats. The Bot API is a minimal local stub (`stubBotApi.ts`) in its
 * own process; latency is the time from when an update was due to be posted to the stub receiving the bot's reply
 * to it (both clocks are this machine's wall clock). The updates come from the C load generator
 * (`lib/httpload.ts`), which costs the shared CPU a fraction of what a Node generator does.
 *
 * Three measured runs, each on its own chats: the first seconds of the new processes at 1,000/s (`cold_*`: code
 * still being optimised), then the steady state at 1,000/s (the target's figures), then 250/s.
 *
 * The stub has no limits, and the bot's own send limits (Telegram's 30 messages/s, 1/s per chat) are lifted to
 * match it: this measures the pipeline, not the pacing (`npm run bench -- broadcast` measures that).
 */
import * as Crypto from "node:crypto"
import { type Scheduled, webhookLoad } from "./lib/httpload.ts"
import { summarize } from "./lib/load.ts"
import { Keys } from "../streams/Keys.ts"
import { leasesSettled } from "./lib/leases.ts"
import { freePort, type Proc, startNode } from "./lib/proc.ts"
import { deleteKeys } from "./lib/updates.ts"

export const run = async ({ quick }: { readonly quick: boolean }) => {
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
  const prefix = `bench:${Crypto.randomBytes(4).toString("hex")}:`
  const secret = "bench-secret"
  const rate = 1000
  const seconds = quick ? 5 : 15
  const coldSeconds = quick ? 5 : 15
  const chats = 1000
  const lightRate = 250
  const stubPort = await freePort()
  const stubUrl = `http://127.0.0.1:${stubPort}`
  const stub = await startNode("bench/stubBotApi.ts", { PORT: String(stubPort) }, `${stubUrl}/_stub/health`)
  const env = {
    HOST: "127.0.0.1",
    BOT_TOKEN: "7000000001:bench-token-aaaaaaaaaaaaaaaaaaaaaaaaa",
    TELEGRAM_API_ROOT: stubUrl,
    WEBHOOK_SECRET: secret,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    LOG_LEVEL: "warn",
    TG_GLOBAL_RATE: "100000",
    TG_CHAT_RATE: "1000",
    TG_GROUP_RATE_PER_MIN: "60000"
  }
  // Production topology: ingest and workers in their own processes (ROLES), so neither starves the other.
  const port = await freePort()
  const http = await startNode("src/main.ts", { ...env, ROLES: "http", PORT: String(port) }, `http://127.0.0.1:${port}/readyz`)
  // `BENCH_WORKERS` worker processes (default 1) share the update partitions.
  const workerCount = Math.max(1, Number(process.env.BENCH_WORKERS ?? 1))
  const workers: Array<Proc> = []
  try {
    // A worker serves no HTTP: it is up once the partitions are leased.
    for (let i = 0; i < workerCount; i++) {
      workers.push(await startNode("src/main.ts", { ...env, ROLES: "worker" }, `http://127.0.0.1:${port}/healthz`))
    }
    const keys = Keys.make(prefix, Number(process.env.PARTITIONS ?? 16))
    await leasesSettled(redisUrl, Array.from({ length: keys.partitions }, (_, p) => keys.lease(p)), workerCount, "workers")
    let nextId = Math.floor(Math.random() * 1e9)
    type Received = { readonly chatId: number; readonly at: number }
    const messages = async () =>
      (await fetch(`${stubUrl}/_stub/messages`).then((r) => r.json())) as ReadonlyArray<Received>
    /** One run at `rate`, on its own range of chats; waits for every reply, then matches replies to posts. */
    const total = (values: ReadonlyArray<number | undefined>) =>
      values.some((v) => v === undefined) ? undefined : values.reduce((a: number, b) => a + b!, 0)
    const cpu = () => [total(workers.map((w) => w.cpuMs())), http.cpuMs()] as const
    const phase = async (rate: number, chatBase: number, duration = seconds) => {
      const cpuBefore = cpu()
      const firstUpdateId = nextId
      nextId += Math.ceil(rate * duration) + 1
      const ingest = await webhookLoad({
        port,
        path: "/telegram/webhook",
        secret,
        rate,
        seconds: duration,
        connections: 64,
        chats,
        firstUpdateId,
        firstChatId: chatBase,
        schedule: true
      })
      const postedAt = new Map<number, Array<Scheduled>>()
      for (const posted of ingest.schedule) postedAt.set(posted.chatId, [...(postedAt.get(posted.chatId) ?? []), posted])
      const expected = (ingest.statuses["2xx"] ?? 0) + (ingest.statuses["200"] ?? 0)
      const mine = (log: ReadonlyArray<Received>) =>
        log.filter((m) => m.chatId >= chatBase && m.chatId < chatBase + chats)
      const deadline = Date.now() + 120_000
      let log = mine(await messages())
      while (log.length < expected && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200))
        log = mine(await messages())
      }
      const byChat = new Map<number, Array<number>>()
      for (const message of log) byChat.set(message.chatId, [...(byChat.get(message.chatId) ?? []), message.at])
      // A chat's updates are handled, and answered, in update_id order.
      const latencies: Array<number> = []
      for (const [chatId, posted] of postedAt) {
        const received = byChat.get(chatId) ?? []
        posted.sort((a, b) => a.updateId - b.updateId)
          .forEach((p, i) => received[i] !== undefined && latencies.push(received[i]! - p.at))
      }
      // BENCH_SERIES=1: the worst latency per 100 ms of posting, to see whether a tail is spread or a few bursts.
      if (process.env.BENCH_SERIES === "1") {
        const series = new Map<number, number>()
        const t0 = Math.min(...ingest.schedule.map((p) => p.at))
        for (const [chatId, posted] of postedAt) {
          const received = byChat.get(chatId) ?? []
          posted.forEach((p, i) => {
            const bucket = Math.floor((p.at - t0) / 100)
            if (received[i] !== undefined) series.set(bucket, Math.max(series.get(bucket) ?? 0, received[i]! - p.at))
          })
        }
        console.error(`${rate}/s from ${t0} (ms since the epoch), worst ms per 100 ms:`)
        console.error([...series].sort((a, b) => a[0] - b[0]).map(([b, v]) => `${b}:${v.toFixed(0)}`).join(" "))
      }
      const cpuAfter = cpu()
      /** CPU ms per update of the worker and the http process, from the first post to the last reply. */
      const perUpdate = (i: 0 | 1) => {
        const [before, after] = [cpuBefore[i], cpuAfter[i]]
        return before === undefined || after === undefined || log.length === 0 ? undefined : (after - before) / log.length
      }
      return { ingest, e2e: summarize(latencies, ingest.seconds, {}, 0), workerCpu: perUpdate(0), httpCpu: perUpdate(1) }
    }
    const round = (n: number, d = 2) => Number(n.toFixed(d))
    // The worker is a separate process: it may still be starting and taking its partitions. A short run whose
    // replies all arrive, not counted, makes sure it is up.
    await phase(rate / 4, 1_000_000, 2)
    // A new process compiles and optimises its code for its first 15-20 s at this rate (V8 tiers functions up as
    // they get hot, on background threads that share the two cores), and collects more while it does. Those
    // seconds are measured on their own (`cold_*`), then the steady state the target is about.
    const cold = await phase(rate, 4_000_000, coldSeconds)
    const full = await phase(rate, 2_000_000)
    const light = await phase(lightRate, 3_000_000)
    const row = (label: string, r: typeof full) =>
      [label, r.ingest.sent, round(r.ingest.rate, 0), round(r.ingest.p99), round(r.e2e.p50), round(r.e2e.p99), round(r.e2e.max),
        r.workerCpu === undefined ? "" : round(r.workerCpu, 3)]
    return {
      table: [
        ["offered load", "updates", "achieved/s", "ack p99 ms", "e2e p50 ms", "e2e p99 ms", "e2e max ms", "worker CPU ms/update"],
        row(`${rate} updates/s, first ${coldSeconds} s`, cold),
        row(`${rate} updates/s`, full),
        row(`${lightRate} updates/s`, light)
      ],
      figures: {
        worker_processes: workerCount,
        offered_rate: rate,
        achieved_rate: round(full.ingest.rate, 0),
        updates: full.ingest.sent,
        replies: full.e2e.sent,
        e2e_p50_ms: round(full.e2e.p50),
        e2e_p99_ms: round(full.e2e.p99),
        e2e_max_ms: round(full.e2e.max),
        ack_p99_ms: round(full.ingest.p99),
        cold_seconds: coldSeconds,
        cold_e2e_p50_ms: round(cold.e2e.p50),
        cold_e2e_p99_ms: round(cold.e2e.p99),
        light_rate: lightRate,
        light_e2e_p50_ms: round(light.e2e.p50),
        light_e2e_p99_ms: round(light.e2e.p99),
        ...(full.workerCpu === undefined || full.httpCpu === undefined ? {} : {
          worker_cpu_ms_per_update: round(full.workerCpu, 3),
          http_cpu_ms_per_update: round(full.httpCpu, 3)
        }),
        errors: cold.ingest.errors + full.ingest.errors + light.ingest.errors,
        seconds
      }
    }
  } finally {
    await http.stop()
    await Promise.all(workers.map((w) => w.stop()))
    await stub.stop()
    await deleteKeys(redisUrl, prefix)
  }
}
