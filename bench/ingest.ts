/**
 * Webhook ingest: the gateway's `POST /telegram/webhook` (secret check, decode, dedup + XADD in Redis) against a
 * bare Node `http` server answering 200 with no work, measured in the same run on the same machine:
 * maximum updates/s (closed loop), and ack latency at a fixed offered load of 2,000 updates/s (open loop).
 * A third server does the gateway's Redis work on bare Node + ioredis (`rawIngest.ts`), to show what the
 * machine itself allows for it.
 */
import * as Crypto from "node:crypto"
import { generator, webhookLoad } from "./lib/httpload.ts"
import type { LoadResult } from "./lib/load.ts"
import { freePort, startNode } from "./lib/proc.ts"
import { deleteKeys } from "./lib/updates.ts"

const answered200 = (r: LoadResult) => (r.statuses["200"] ?? 0) + (r.statuses["2xx"] ?? 0)

export const run = async ({ quick }: { readonly quick: boolean }) => {
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
  const prefix = `bench:${Crypto.randomBytes(4).toString("hex")}:`
  const secret = "bench-secret"
  const seconds = quick ? 4 : 10
  const offered = 2000
  const concurrency = 32
  let nextId = Math.floor(Math.random() * 1e9)
  const load = (port: number, path: string, rate: number, duration = seconds) => {
    const firstUpdateId = nextId
    nextId += 10_000_000
    return webhookLoad({
      port,
      path,
      secret,
      rate,
      seconds: duration,
      connections: rate > 0 ? 64 : concurrency,
      chats: 1000,
      firstUpdateId
    })
  }

  const barePort = await freePort()
  const bare = await startNode("bench/bare.ts", { PORT: String(barePort) }, `http://127.0.0.1:${barePort}/`)
  const bareMax = await load(barePort, "/", 0)
  const bareFixed = await load(barePort, "/", offered)
  await bare.stop()

  const rawPort = await freePort()
  const raw = await startNode("bench/rawIngest.ts", {
    PORT: String(rawPort), REDIS_URL: redisUrl, REDIS_PREFIX: prefix, WEBHOOK_SECRET: secret
  }, `http://127.0.0.1:${rawPort}/`)
  await load(rawPort, "/", 0, 1) // warm-up
  const rawMax = await load(rawPort, "/", 0)
  const rawFixed = await load(rawPort, "/", offered)
  await raw.stop()

  const port = await freePort()
  const gateway = await startNode("src/main.ts", {
    ROLES: "http",
    PORT: String(port),
    HOST: "127.0.0.1",
    BOT_TOKEN: "123456:bench-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    WEBHOOK_SECRET: secret,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    LOG_LEVEL: "warn"
  }, `http://127.0.0.1:${port}/readyz`)
  try {
    await load(port, "/telegram/webhook", 0, 2) // warm-up
    const ingestMax = await load(port, "/telegram/webhook", 0)
    const ingestFixed = await load(port, "/telegram/webhook", offered)
    const round = (n: number, d = 2) => Number(n.toFixed(d))
    const non200 = ingestMax.sent - answered200(ingestMax) + ingestFixed.sent - answered200(ingestFixed)
    return {
      table: [
        ["server", "max req/s", "p50 ms @2000/s", "p99 ms @2000/s", "non-200"],
        ["bare node http", round(bareMax.rate, 0), round(bareFixed.p50), round(bareFixed.p99), 0],
        ["node + ioredis, same Redis work", round(rawMax.rate, 0), round(rawFixed.p50), round(rawFixed.p99), 0],
        ["gateway webhook", round(ingestMax.rate, 0), round(ingestFixed.p50), round(ingestFixed.p99), non200]
      ],
      figures: {
        generator: generator(),
        bare_rps: round(bareMax.rate, 0),
        ingest_rps: round(ingestMax.rate, 0),
        ingest_ratio: round(ingestMax.rate / bareMax.rate, 3),
        offered_rate: offered,
        achieved_rate: round(ingestFixed.rate, 0),
        ack_p50_ms: round(ingestFixed.p50),
        ack_p90_ms: round(ingestFixed.p90),
        ack_p99_ms: round(ingestFixed.p99),
        ack_max_ms: round(ingestFixed.max),
        bare_p50_ms: round(bareFixed.p50),
        bare_p99_ms: round(bareFixed.p99),
        raw_rps: round(rawMax.rate, 0),
        raw_ratio: round(rawMax.rate / bareMax.rate, 3),
        raw_p99_ms: round(rawFixed.p99),
        errors: ingestMax.errors + ingestFixed.errors,
        non_200: non200,
        concurrency,
        seconds
      }
    }
  } finally {
    await gateway.stop()
    await deleteKeys(redisUrl, prefix)
  }
}
