/**
 * End to end: update -> webhook -> stream -> chat actor -> the bot's Composer -> Sender -> Bot API, at a fixed
 * offered load of 1,000 updates/s over 1,000 chats. The Bot API is a minimal local stub (`stubBotApi.ts`) in its
 * own process; latency is the time from posting an update to the stub receiving the bot's reply to it (both
 * clocks are this machine's wall clock).
 *
 * The stub has no limits, and the bot's own send limits (Telegram's 30 messages/s, 1/s per chat) are lifted to
 * match it: this measures the pipeline, not the pacing (`npm run bench -- broadcast` measures that).
 */
import * as Crypto from "node:crypto"
import { openLoop, summarize } from "./lib/load.ts"
import { freePort, startNode } from "./lib/proc.ts"
import { deleteKeys, messageBody } from "./lib/updates.ts"

const now = () => performance.timeOrigin + performance.now()

export const run = async ({ quick }: { readonly quick: boolean }) => {
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
  const prefix = `bench:${Crypto.randomBytes(4).toString("hex")}:`
  const secret = "bench-secret"
  const rate = 1000
  const seconds = quick ? 5 : 15
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
  const workerPort = await freePort()
  const worker = await startNode("src/main.ts", { ...env, ROLES: "worker", PORT: String(workerPort) }, `http://127.0.0.1:${port}/healthz`)
  try {
    const origin = `http://127.0.0.1:${port}`
    let nextId = Math.floor(Math.random() * 1e9)
    type Received = { readonly chatId: number; readonly at: number }
    const messages = async () =>
      (await fetch(`${stubUrl}/_stub/messages`).then((r) => r.json())) as ReadonlyArray<Received>
    /** One run at `rate`, on its own range of chats; waits for every reply, then matches replies to posts. */
    const phase = async (rate: number, chatBase: number, duration = seconds) => {
      const postedAt = new Map<number, Array<number>>()
      const ingest = await openLoop(origin, { rate, seconds: duration }, () => {
        const updateId = nextId++
        const chatId = chatBase + (updateId % chats)
        postedAt.set(chatId, [...(postedAt.get(chatId) ?? []), now()])
        return {
          path: "/telegram/webhook",
          body: messageBody(updateId, chats, chatBase),
          headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret }
        }
      })
      const expected = ingest.statuses["200"] ?? 0
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
      const latencies: Array<number> = []
      for (const [chatId, posted] of postedAt) {
        const received = byChat.get(chatId) ?? []
        posted.forEach((t, i) => received[i] !== undefined && latencies.push(received[i]! - t))
      }
      return { ingest, e2e: summarize(latencies, ingest.seconds, {}, 0) }
    }
    const round = (n: number, d = 2) => Number(n.toFixed(d))
    // The worker is a separate process: it may still be starting and taking its partitions, and its code is not
    // yet optimised. A short run whose replies all arrive, not counted, makes sure it is up and warm.
    await phase(rate / 4, 1_000_000, 3)
    const full = await phase(rate, 2_000_000)
    const light = await phase(lightRate, 3_000_000)
    const row = (label: string, r: typeof full) =>
      [label, r.ingest.sent, round(r.ingest.rate, 0), round(r.ingest.p99), round(r.e2e.p50), round(r.e2e.p99), round(r.e2e.max)]
    return {
      table: [
        ["offered load", "updates", "achieved/s", "ack p99 ms", "e2e p50 ms", "e2e p99 ms", "e2e max ms"],
        row(`${rate} updates/s`, full),
        row(`${lightRate} updates/s`, light)
      ],
      figures: {
        offered_rate: rate,
        achieved_rate: round(full.ingest.rate, 0),
        updates: full.ingest.sent,
        replies: full.e2e.sent,
        e2e_p50_ms: round(full.e2e.p50),
        e2e_p99_ms: round(full.e2e.p99),
        e2e_max_ms: round(full.e2e.max),
        ack_p99_ms: round(full.ingest.p99),
        light_rate: lightRate,
        light_e2e_p50_ms: round(light.e2e.p50),
        light_e2e_p99_ms: round(light.e2e.p99),
        errors: full.ingest.errors + light.ingest.errors,
        seconds
      }
    }
  } finally {
    await http.stop()
    await worker.stop()
    await stub.stop()
    await deleteKeys(redisUrl, prefix)
  }
}
