/**
 * `npm run webhook -- <info|set|delete>`: the bot's webhook registration at Telegram.
 * `set` registers `PUBLIC_URL` + `/telegram/webhook` with `WEBHOOK_SECRET` as `secret_token`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Option, Redacted } from "effect"
import * as Env from "../config.ts"
import { BotApi } from "../../services/BotApi.ts"

const command = process.argv[2] ?? "info"

const program = Effect.gen(function*() {
  const api = yield* BotApi
  switch (command) {
    case "set": {
      const base = yield* Env.publicUrl
      if (Option.isNone(base)) return yield* Effect.fail(new Error("PUBLIC_URL is required to set the webhook"))
      const secret = yield* Env.webhookSecret
      yield* api.call("setWebhook", {
        url: `${base.value.replace(/\/+$/, "")}/telegram/webhook`,
        secret_token: Redacted.value(secret),
        max_connections: 40,
        drop_pending_updates: false
      })
      break
    }
    case "delete":
      yield* api.call("deleteWebhook", { drop_pending_updates: false })
      break
    case "info":
      break
    default:
      return yield* Effect.fail(new Error(`unknown command ${command}: use info, set or delete`))
  }
  const info = yield* api.call("getWebhookInfo", {})
  process.stdout.write(JSON.stringify(info, null, 2) + "\n")
}).pipe(Effect.provide(BotApi.layer))

NodeRuntime.runMain(program)
