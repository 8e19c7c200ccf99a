/**
 * `POST /v1/tg/exchange` over HTTP: a signed Mini App initData in, a JWT and a refresh token out (signature
 * check, identity upsert with its audit row, a new session, an EdDSA signature). The gateway runs as its own
 * `http` process on a fresh database; every request signs in a different user, so the per-user limit never
 * applies (the per-address limit is lifted: all requests come from one address).
 *
 * Measured: the maximum exchanges/s with 16 connections kept busy (closed loop), then latency at a fixed offered
 * load (open loop, counted from each request's scheduled time): HTTP p50/p95/p99, and the p95 of the JWT
 * signing step alone from the gateway's own `tg_jwt_issue_latency_seconds` histogram.
 */
import * as Crypto from "node:crypto"
import { closedLoop, openLoop } from "./lib/load.ts"
import { scratchDatabase } from "./lib/database.ts"
import { freePort, startNode } from "./lib/proc.ts"
import { deleteKeys } from "./lib/updates.ts"

const botToken = "7000000001:bench-token-aaaaaaaaaaaaaaaaaaaaaaaaa"

const signedInitData = (userId: number, authDate: number) => {
  const fields: Record<string, string> = {
    query_id: `AAH${userId}`,
    user: JSON.stringify({ id: userId, first_name: "Bench", language_code: "en", allows_write_to_pm: true }),
    auth_date: String(authDate),
    chat_type: "sender"
  }
  const key = Crypto.createHmac("sha256", "WebAppData").update(botToken).digest()
  const check = Object.entries(fields).map(([k, v]) => `${k}=${v}`).sort().join("\n")
  return new URLSearchParams({ ...fields, hash: Crypto.createHmac("sha256", key).update(check).digest("hex") }).toString()
}

/** The p-quantile of a Prometheus histogram (upper bound of the bucket it falls in), in ms. */
const histogramQuantile = (metrics: string, name: string, q: number): number => {
  const buckets = [...metrics.matchAll(new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} (\\S+)$`, "gm"))]
    .map((m) => [m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])] as const)
    .sort((a, b) => a[0] - b[0])
  const total = buckets[buckets.length - 1]?.[1] ?? 0
  const bucket = buckets.find(([, count]) => count >= q * total)
  return bucket === undefined ? NaN : bucket[0] * 1000
}

export const run = async ({ quick }: { readonly quick: boolean }) => {
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
  const prefix = `bench:${Crypto.randomBytes(4).toString("hex")}:`
  const database = await scratchDatabase("exchange")
  const seconds = quick ? 5 : 10
  const rate = 200
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const gateway = await startNode("src/main.ts", {
    ROLES: "http",
    HOST: "127.0.0.1",
    PORT: String(port),
    BOT_TOKEN: botToken,
    WEBHOOK_SECRET: "bench-secret",
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    DATABASE_URL: database.url,
    JWT_KEY_ENCRYPTION_KEY: Crypto.randomBytes(32).toString("base64"),
    AUTH_RATE_PER_MIN_IP: "1000000",
    LOG_LEVEL: "warn"
  }, `${origin}/readyz`)
  try {
    const authDate = Math.floor(Date.now() / 1000)
    let nextUser = 1_000_000
    const request = () => ({
      path: "/v1/tg/exchange",
      body: JSON.stringify({ init_data: signedInitData(nextUser++, authDate) }),
      headers: { "content-type": "application/json" }
    })
    // Warm-up (not counted): the first signing key is created, code paths are compiled.
    await closedLoop(origin, { concurrency: 4, seconds: 2 }, request)
    const max = await closedLoop(origin, { concurrency: 16, seconds }, request)
    const before = await fetch(`${origin}/metrics`).then((r) => r.text())
    const fixed = await openLoop(origin, { rate, seconds, connections: 16 }, request)
    const after = await fetch(`${origin}/metrics`).then((r) => r.text())
    // The histogram is cumulative over the process's life; the fixed-load phase is most of its late samples,
    // so its quantile is read from the difference of the two scrapes.
    const issueP95 = histogramQuantile(subtract(after, before, "tg_jwt_issue_latency_seconds"), "tg_jwt_issue_latency_seconds", 0.95)
    const ok = (statuses: Record<string, number>) => statuses["200"] ?? 0
    const round = (n: number, d = 2) => Number(n.toFixed(d))
    return {
      table: [
        ["load", "requests", "200s", "req/s", "p50 ms", "p95 ms", "p99 ms"],
        ["closed loop, 16 connections", max.sent, ok(max.statuses), round(max.rate, 0), round(max.p50), "", round(max.p99)],
        [`open loop, ${rate}/s`, fixed.sent, ok(fixed.statuses), round(fixed.rate, 0), round(fixed.p50), round(fixed.p95 ?? NaN), round(fixed.p99)],
        ["JWT signing alone (server histogram)", "", "", "", "", `<= ${issueP95}`, ""]
      ],
      figures: {
        exchange_rps: round(max.rate, 0),
        exchange_non_200: max.sent - ok(max.statuses) + fixed.sent - ok(fixed.statuses),
        offered_rate: rate,
        http_p50_ms: round(fixed.p50),
        http_p95_ms: round(fixed.p95 ?? NaN),
        http_p99_ms: round(fixed.p99),
        jwt_issue_p95_ms_at_most: issueP95,
        errors: max.errors + fixed.errors,
        seconds
      }
    }
  } finally {
    await gateway.stop()
    await deleteKeys(redisUrl, prefix)
    await database.drop()
  }
}

/** `name`'s bucket counts in `after` minus those in `before`, as Prometheus text. */
const subtract = (after: string, before: string, name: string): string => {
  const counts = (text: string) =>
    new Map([...text.matchAll(new RegExp(`^(${name}_bucket\\{[^}]*\\}) (\\S+)$`, "gm"))].map((m) => [m[1]!, Number(m[2])]))
  const previous = counts(before)
  return [...counts(after)].map(([series, count]) => `${series} ${count - (previous.get(series) ?? 0)}`).join("\n")
}
