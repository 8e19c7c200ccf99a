/** The production bot (http + worker roles) in-process against an in-process Bot API emulator. */
import { Context, Effect, Layer } from "effect"
import * as Roles from "../../layers/Roles.ts"
import { Emulator } from "../../src/emulator/index.ts"
import { startGateway } from "./Gateway.ts"
import { gatewayEnv, testDatabase, testPrefix } from "./Infra.ts"

/** An in-process emulator, a key prefix and a database for one test, and the gateway settings that join them. */
export const emulatorSetup = (label: string, extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const emulator = Context.get(yield* Layer.build(Emulator.layer()), Emulator)
    const prefix = yield* testPrefix(label)
    const databaseUrl = yield* testDatabase
    const env = gatewayEnv({ prefix, databaseUrl, apiRoot: emulator.url, extra: { BOT_TOKEN: emulator.token, ...extra } })
    return { emulator, prefix, databaseUrl, env }
  })

export const startBotGateway = (label: string, extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const { emulator, prefix, databaseUrl, env } = yield* emulatorSetup(label, extra)
    const gateway = yield* startGateway({ env, handler: Roles.botHandler })
    // Telegram's side: the emulator delivers injected updates to our webhook, with the secret header.
    const registered = yield* Effect.promise(() =>
      fetch(`${emulator.url}/bot${emulator.token}/setWebhook`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ url: `${gateway.url}/telegram/webhook`, secret_token: env.WEBHOOK_SECRET })
      }).then((r) => r.json() as Promise<{ ok: boolean }>)
    )
    if (!registered.ok) return yield* Effect.die(new Error("setWebhook refused by the emulator"))
    return { emulator, url: gateway.url, env, prefix, databaseUrl }
  })
