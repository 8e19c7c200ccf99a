/**
 * A mailing against the Bot API emulator enforcing Telegram-like limits ten times higher than Telegram's
 * (300 messages/s per bot, 1/s per chat), two ways, in the same run:
 *
 * - **gateway**: 3 sender processes (`ROLES=sender`) running and sharing the outbox partitions, as in production;
 *   then the mailing is queued in the outbox's bulk lane and they drain it (`ROLES=sender`;
 *   `BENCH_SENDERS` changes the number) with the default lane shares (bulk at most 97% of 95% of the limit; `TG_BULK_SHARE` and
 *   `TG_RATE_SAFETY` from the environment change them);
 *   meanwhile this process sends interactive replies through the `Sender`.
 * - **naive**: what a bot author would write today: grammY's `Api` with `@grammyjs/auto-retry`, every message
 *   sent at once with `Promise.all`, and the interactive replies through the same `Api`.
 *
 * Figures: the mailing's achieved messages/s and its fraction of the limit, 429s served, messages delivered
 * twice, and the p99 latency of the interactive replies sent while the mailing runs.
 */
import { autoRetry } from "@grammyjs/auto-retry"
import { ConfigProvider, Effect, Layer, ManagedRuntime } from "effect"
import { Api } from "grammy"
import * as Crypto from "node:crypto"
import * as RedisLayer from "../layers/Redis.ts"
import { BotApi } from "../services/BotApi.ts"
import { Sender } from "../services/Sender.ts"
import { SendLimits } from "../services/SendLimits.ts"
import { defaultToken } from "../src/emulator/Options.ts"
import { Keys } from "../streams/Keys.ts"
import { Outbox } from "../streams/Outbox.ts"
import { freePort, type Proc, startNode } from "./lib/proc.ts"
import { leasesSettled } from "./lib/leases.ts"
import { deleteKeys } from "./lib/updates.ts"

const limit = 300
const senderProcesses = Number(process.env.BENCH_SENDERS ?? 3)
// The configured shares (the defaults unless the environment sets them), for the senders and this process alike.
const bulkShare = Number(process.env.TG_BULK_SHARE ?? 0.97)
const safety = Number(process.env.TG_RATE_SAFETY ?? 0.95)

type Counters = { readonly tooManyRequests: number; readonly maxPerSecond: number }
type Logged = { readonly chatId: number; readonly text?: string; readonly receivedAt: number }

const control = (url: string) => async <A>(path: string, body?: unknown): Promise<A> => {
  const response = await fetch(`${url}/_emulator${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const json = (await response.json()) as { ok: boolean; result: A; error?: string }
  if (!json.ok) throw new Error(`emulator ${path}: ${json.error}`)
  return json.result
}

const quantile = (values: Array<number>, q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/**
 * Sends one interactive reply every 200 ms while `running()`; `latencies` (ms) fills as replies are sent,
 * `started()` counts replies begun, and `done` resolves when the loop stops.
 */
const interactiveLoad = (running: () => boolean, send: (chatId: number) => Promise<unknown>) => {
  const latencies: Array<number> = []
  const state = { started: 0 }
  const done = (async () => {
    let chatId = 90_000_000
    while (running()) {
      state.started++
      const started = performance.now()
      await send(chatId++)
      latencies.push(performance.now() - started)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  })()
  return { latencies, done, started: () => state.started }
}

/** The mailing's figures from the emulator's log and counters. */
const measure = async (emulator: ReturnType<typeof control>, total: number) => {
  const messages = await emulator<Array<Logged>>("/messages")
  const bulk = messages.filter((m) => m.chatId < 90_000_000)
  const times = bulk.map((m) => m.receivedAt).sort((a, b) => a - b)
  const rate = times.length < 2 ? 0 : (times.length - 1) / ((times[times.length - 1]! - times[0]!) / 1000)
  const counters = await emulator<Counters>("/counters")
  return {
    delivered: new Set(bulk.map((m) => m.text)).size,
    duplicates: bulk.length - new Set(bulk.map((m) => m.text)).size,
    lost: total - new Set(bulk.map((m) => m.text)).size,
    rate,
    tooManyRequests: counters.tooManyRequests,
    maxPerSecond: counters.maxPerSecond
  }
}

/** Waits until `count` mailing messages were delivered, besides the `replies()` sent meanwhile. */
const awaitDelivered = async (
  emulator: ReturnType<typeof control>,
  count: number,
  replies: () => number,
  timeoutMs: number
) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const counters = await emulator<{ sentByMethod: Record<string, number> }>("/counters")
    if ((counters.sentByMethod["sendMessage"] ?? 0) - replies() >= count) return true
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  return false
}

export const run = async ({ quick }: { readonly quick: boolean }) => {
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
  const prefix = `bench:${Crypto.randomBytes(4).toString("hex")}:`
  const chats = quick ? 1000 : 3000
  const total = chats * 2
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const emulatorProc = await startNode("src/emulator/main.ts", {
    EMULATOR_PORT: String(port),
    EMULATOR_GLOBAL_RATE: String(limit),
    EMULATOR_CHAT_RATE: "1"
  }, `${url}/_emulator/health`)
  const emulator = control(url)
  const env = {
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    BOT_TOKEN: defaultToken,
    TELEGRAM_API_ROOT: url,
    TG_GLOBAL_RATE: String(limit),
    TG_CHAT_RATE: "1",
    LOG_LEVEL: "warn",
    // The senders and this process (which sends the interactive replies) must pace alike.
    TG_BULK_SHARE: String(bulkShare),
    TG_RATE_SAFETY: String(safety)
  }
  const runtime = ManagedRuntime.make(
    Layer.mergeAll(Outbox.layer, Sender.layer).pipe(
      Layer.provide(Layer.mergeAll(BotApi.layer, SendLimits.layer)),
      Layer.provideMerge(Layer.mergeAll(RedisLayer.layerUrl(redisUrl), Keys.layer)),
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
    )
  )
  const messages = Array.from({ length: total }, (_, i) => {
    const chatId = 10_000_000 + (i >> 1)
    return { chatId, text: `c${chatId}-m${i & 1}` }
  })
  const senders: Array<Proc> = []
  try {
    // The gateway: the senders run, as they do in production, and share the outbox partitions; then the mailing
    // is queued, and interactive replies are sent while they work.
    for (let i = 0; i < senderProcesses; i++) {
      senders.push(await startNode("src/main.ts", { ...env, ROLES: "sender" }, `${url}/_emulator/health`))
    }
    const keys = await runtime.runPromise(Effect.service(Keys))
    await leasesSettled(redisUrl, Array.from({ length: keys.partitions }, (_, p) => keys.outboxLease(p)), senderProcesses,
      "senders")
    await runtime.runPromise(Effect.flatMap(Outbox, (outbox) =>
      outbox.enqueueAll(messages.map((m) => ({
        lane: "bulk" as const,
        chatId: m.chatId,
        method: "sendMessage",
        params: { chat_id: m.chatId, text: m.text },
        idempotencyKey: `bench:${m.text}`
      })))))
    let done = false
    const replies = interactiveLoad(() => !done, (chatId) =>
      runtime.runPromise(Effect.flatMap(Sender, (sender) =>
        sender.call({
          method: "sendMessage",
          params: { chat_id: chatId, text: "reply" },
          lane: "interactive",
          idempotencyKey: `bench:reply:${chatId}`
        }))))
    const finished = await awaitDelivered(emulator, total, replies.started, 120_000)
    done = true
    await replies.done
    const gatewayLatencies = replies.latencies
    const gateway = await measure(emulator, total)
    if (!finished) throw new Error(`the gateway delivered ${gateway.delivered} of ${total} in 120 s`)
    await Promise.all(senders.map((s) => s.stop()))
    senders.length = 0

    // The naive broadcaster against the same limits.
    await emulator("/reset", {})
    const api = new Api(defaultToken, { apiRoot: url })
    api.config.use(autoRetry())
    let naiveDone = false
    const naiveReplies = interactiveLoad(() => !naiveDone, (chatId) => api.sendMessage(chatId, "reply"))
    const started = performance.now()
    const results = await Promise.allSettled(messages.map((m) => api.sendMessage(m.chatId, m.text)))
    const naiveSeconds = (performance.now() - started) / 1000
    naiveDone = true
    await naiveReplies.done
    const naiveLatencies = naiveReplies.latencies
    const naive = await measure(emulator, total)
    const naiveErrors = results.filter((r) => r.status === "rejected").length

    const round = (n: number, d = 2) => Number(n.toFixed(d))
    return {
      table: [
        ["broadcaster", "messages/s", "of limit", "429s served", "duplicates", "lost", "interactive p99 ms"],
        [`gateway outbox, ${senderProcesses} sender processes`, round(gateway.rate, 1), round(gateway.rate / limit, 3), gateway.tooManyRequests,
          gateway.duplicates, gateway.lost, round(quantile(gatewayLatencies, 0.99), 1)],
        ["grammY auto-retry + Promise.all", round(naive.rate, 1), round(naive.rate / limit, 3), naive.tooManyRequests,
          naive.duplicates, naive.lost, round(quantile(naiveLatencies, 0.99), 1)]
      ],
      figures: {
        limit,
        sender_processes: senderProcesses,
        // The bulk lane's own ceiling with the default TG_BULK_SHARE and TG_RATE_SAFETY.
        bulk_ceiling: round(limit * safety * bulkShare, 1),
        messages: total,
        chats,
        rate: round(gateway.rate, 1),
        fraction_of_limit: round(gateway.rate / limit, 3),
        flood_waits_served: gateway.tooManyRequests,
        duplicates: gateway.duplicates,
        lost: gateway.lost,
        max_per_second: gateway.maxPerSecond,
        interactive_p50_ms: round(quantile(gatewayLatencies, 0.5), 1),
        interactive_p99_ms: round(quantile(gatewayLatencies, 0.99), 1),
        interactive_replies: gatewayLatencies.length,
        naive_rate: round(naive.rate, 1),
        naive_fraction_of_limit: round(naive.rate / limit, 3),
        naive_flood_waits_served: naive.tooManyRequests,
        naive_duplicates: naive.duplicates,
        naive_lost: naive.lost,
        naive_errors: naiveErrors,
        naive_seconds: round(naiveSeconds, 1),
        naive_interactive_p50_ms: round(quantile(naiveLatencies, 0.5), 1),
        naive_interactive_p99_ms: round(quantile(naiveLatencies, 0.99), 1)
      }
    }
  } finally {
    await Promise.all(senders.map((s) => s.stop()))
    await runtime.dispose()
    await emulatorProc.stop()
    await deleteKeys(redisUrl, prefix)
  }
}
