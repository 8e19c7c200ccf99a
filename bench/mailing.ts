/**
 * A mailing end to end: created through `POST /v1/internal/mailings` with a list of players, expanded, released
 * in waves by the notifier role, sent by the sender role, against the Bot API emulator enforcing 300 messages/s
 * per bot and 1/s per chat (ten times Telegram's limits) in its own process.
 *
 * Two gateway processes (`BENCH_GATEWAYS` changes it), both `notifier,sender`, the first also `http`, share one
 * Redis and a scratch Postgres database with 10,000 linked players (3,000 with `--quick`). The mailing uses the
 * defaults (waves of 500, no pause, jitter up to 500 ms) and the default lane shares (bulk at most 97% of 95% of
 * the limit; `TG_BULK_SHARE` and `TG_RATE_SAFETY` from the environment change them).
 *
 * Figures: messages/s achieved (from the first message to the last, and over the busiest 10 s), as a fraction of
 * the limit and of the bulk lane's ceiling, 429s served, duplicates and players missed, the time from the request
 * to the first message, and the highest `rate_per_s` the mailing's progress reported.
 */
import { ConfigProvider, Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Crypto from "node:crypto"
import * as Postgres from "../layers/Postgres.ts"
import { defaultToken } from "../src/emulator/Options.ts"
import { scratchDatabase } from "./lib/database.ts"
import { freePort, type Proc, startNode } from "./lib/proc.ts"
import { deleteKeys } from "./lib/updates.ts"

const limit = 300
const gateways = Number(process.env.BENCH_GATEWAYS ?? 2)
const bulkShare = Number(process.env.TG_BULK_SHARE ?? 0.97)
const safety = Number(process.env.TG_RATE_SAFETY ?? 0.95)
const token = "bench-internal-token-0123456789abcdefghij"
const firstChat = 20_000_000

type Counters = { readonly tooManyRequests: number; readonly maxPerSecond: number }
type Logged = { readonly chatId: number; readonly receivedAt: number }
type Progress = { readonly status: string; readonly rate_per_s: number; readonly waves: number; readonly progress: Record<string, unknown> }

const control = (url: string) => async <A>(path: string): Promise<A> =>
  ((await (await fetch(`${url}/_emulator${path}`)).json()) as { result: A }).result

export const run = async ({ quick }: { readonly quick: boolean }) => {
  const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
  const prefix = `bench:${Crypto.randomBytes(4).toString("hex")}:`
  const players = quick ? 3000 : 10_000
  const database = await scratchDatabase("mailing")
  const emulatorPort = await freePort()
  const emulatorUrl = `http://127.0.0.1:${emulatorPort}`
  const emulatorProc = await startNode("src/emulator/main.ts", {
    EMULATOR_PORT: String(emulatorPort),
    EMULATOR_GLOBAL_RATE: String(limit),
    EMULATOR_CHAT_RATE: "1"
  }, `${emulatorUrl}/_emulator/health`)
  const emulator = control(emulatorUrl)
  const env = {
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    DATABASE_URL: database.url,
    BOT_TOKEN: defaultToken,
    TELEGRAM_API_ROOT: emulatorUrl,
    TG_GLOBAL_RATE: String(limit),
    TG_CHAT_RATE: "1",
    TG_BULK_SHARE: String(bulkShare),
    TG_RATE_SAFETY: String(safety),
    PLATFORM_EVENTS_STREAM: `${prefix}platform:events`,
    INTERNAL_API_TOKEN: token,
    WEBHOOK_SECRET: "bench-secret",
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn"
  }
  const runtime = ManagedRuntime.make(
    Postgres.layerUrl(Redacted.make(database.url)).pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
    )
  )
  const procs: Array<Proc> = []
  try {
    await runtime.runPromise(Effect.flatMap(SqlClient, (sql) => sql`
      INSERT INTO identities (telegram_user_id, platform_user_id, chat_id, language_code, consent_promotions, linked_at)
      SELECT ${firstChat} + i, 'b-' || i, ${firstChat} + i, CASE WHEN i % 3 = 0 THEN 'it' ELSE 'en' END, true, now()
      FROM generate_series(1, ${players}) AS i
    `))
    const port = await freePort()
    const api = `http://127.0.0.1:${port}/v1/internal/mailings`
    procs.push(await startNode("src/main.ts", { ...env, ROLES: "http,notifier,sender", PORT: String(port) },
      `http://127.0.0.1:${port}/healthz`))
    for (let i = 1; i < gateways; i++) {
      procs.push(await startNode("src/main.ts", { ...env, ROLES: "notifier,sender", PORT: "0" }, `${emulatorUrl}/_emulator/health`))
    }
    const headers = { "content-type": "application/json", authorization: `Bearer ${token}` }
    const requested = Date.now()
    const created = await fetch(api, {
      method: "POST",
      headers,
      body: JSON.stringify({
        name: "bench",
        template: "promo_announcement",
        vars: { title: "Bench spins", body: "A mailing measured" },
        segment: { user_ids: Array.from({ length: players }, (_, k) => `b-${k + 1}`) }
      })
    })
    if (created.status !== 201) throw new Error(`create: ${created.status} ${await created.text()}`)
    const { id } = (await created.json()) as { id: string }
    let reported = 0
    let last: Progress | undefined
    const deadline = Date.now() + (quick ? 50_000 : 180_000)
    while (Date.now() < deadline) {
      last = (await (await fetch(`${api}/${id}`, { headers })).json()) as Progress
      reported = Math.max(reported, last.rate_per_s)
      if (last.status === "completed") break
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    if (last?.status !== "completed") throw new Error(`the mailing did not complete: ${JSON.stringify(last)}`)

    const messages = (await emulator<Array<Logged>>("/messages")).filter((m) => m.chatId > firstChat)
    const counters = await emulator<Counters>("/counters")
    const times = messages.map((m) => m.receivedAt).sort((a, b) => a - b)
    const span = (times[times.length - 1]! - times[0]!) / 1000
    const rate = (times.length - 1) / span
    // The busiest 10 s window.
    let busiest = 0
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! > 10_000) j++
      busiest = Math.max(busiest, i - j + 1)
    }
    const chats = new Set(messages.map((m) => m.chatId))
    const ceiling = limit * safety * bulkShare
    const round = (n: number, d = 2) => Number(n.toFixed(d))
    const figures = {
      limit,
      bulk_ceiling: round(ceiling, 1),
      gateway_processes: gateways,
      recipients: players,
      waves: last.waves,
      rate: round(rate, 1),
      fraction_of_limit: round(rate / limit, 3),
      fraction_of_bulk_ceiling: round(rate / ceiling, 3),
      busiest_10s_rate: round(busiest / 10, 1),
      reported_rate_max: reported,
      flood_waits_served: counters.tooManyRequests,
      max_per_second: counters.maxPerSecond,
      duplicates: messages.length - chats.size,
      missed: players - chats.size,
      first_message_ms: Math.round(times[0]! - requested),
      seconds: round(span, 1)
    }
    return {
      table: [
        ["mailing", "msgs/s", "of limit", "of bulk ceiling", "busiest 10 s", "429s", "duplicates", "missed", "first msg ms"],
        [`${players} players, ${gateways} gateway processes`, figures.rate, figures.fraction_of_limit,
          figures.fraction_of_bulk_ceiling, figures.busiest_10s_rate, figures.flood_waits_served, figures.duplicates,
          figures.missed, figures.first_message_ms]
      ],
      figures
    }
  } finally {
    await Promise.all(procs.map((p) => p.stop()))
    await runtime.dispose()
    await emulatorProc.stop()
    await deleteKeys(redisUrl, prefix)
    await database.drop()
  }
}
