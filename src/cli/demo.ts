/**
 * `npm run demo`: the whole gateway against the local Bot API emulator, no Telegram account needed. The emulator
 * plays Telegram: updates you inject are delivered to the gateway's webhook with the secret header, and the
 * bot's answers land in its message log. Settings you export (PORT, REDIS_URL, ...) still apply.
 */
import { NodeRuntime } from "@effect/platform-node"
import { ConfigProvider, Effect, Layer, Schedule } from "effect"
import * as Roles from "../../layers/Roles.ts"
import { Emulator } from "../emulator/index.ts"

const emulatorPort = Number(process.env.EMULATOR_PORT ?? 8081)
const secret = "demo-secret"

const program = Effect.gen(function*() {
  const emulator = yield* Emulator
  const env: Record<string, string> = {
    BOT_TOKEN: emulator.token,
    TELEGRAM_API_ROOT: emulator.url,
    WEBHOOK_SECRET: secret,
    REDIS_PREFIX: "demo:",
    // Demo only: seals the demo's JWT signing keys. Production sets its own secret (docs/operations.md).
    JWT_KEY_ENCRYPTION_KEY: Buffer.from("tg-gateway demo key, not secret!").toString("base64"),
    ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined))
  }
  const port = Number(env.PORT ?? 8080)
  yield* Layer.launch(Roles.app).pipe(
    Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))),
    Effect.forkChild
  )
  // Telegram's side: point the emulator's webhook at the gateway, once it listens.
  const gateway = `http://127.0.0.1:${port}`
  yield* Effect.tryPromise(() => fetch(`${gateway}/readyz`).then((r) => r.ok ? r : Promise.reject(r.status))).pipe(
    Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 150 })
  )
  const registered = yield* Effect.promise(() =>
    fetch(`${emulator.url}/bot${emulator.token}/setWebhook`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: `${gateway}/telegram/webhook`, secret_token: env.WEBHOOK_SECRET })
    }).then((r) => r.json())
  )
  yield* Effect.log(`demo: emulator ${emulator.url} delivers to ${gateway}/telegram/webhook`, registered)
  process.stdout.write(`
tg-gateway demo is running.
  Say /start as player 1001:
    curl -s ${emulator.url}/_emulator/updates -H 'content-type: application/json' \\
      -d '{"update":{"message":{"chat":{"id":1001,"type":"private"},"from":{"id":1001,"is_bot":false,"first_name":"Ann"},"text":"/start","entities":[{"type":"bot_command","offset":0,"length":6}]}}}'
  Read the bot's answers:
    curl -s ${emulator.url}/_emulator/messages/1001
  Metrics: ${gateway}/metrics    Emulator control API: docs/emulator.md
`)
  return yield* Effect.never
}).pipe(Effect.provide(Emulator.layer({ port: emulatorPort })))

NodeRuntime.runMain(program)
