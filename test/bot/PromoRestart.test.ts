/**
 * The promo-code flow survives its worker: the player opens it, the worker process is killed with SIGKILL, a new
 * one takes the partitions over, and the player's next message (the code) is still read as the code, because
 * the flow's step lives in the chat's session in Redis. Codes are checked against the reference platform.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import * as Postgres from "../../layers/Postgres.ts"
import { en } from "../../src/bot/texts/en.ts"
import { Emulator, UpdateBuilders } from "../../src/emulator/index.ts"
import { Identity } from "../../services/Identity.ts"
import { seed } from "../../services/platform/Seed.ts"
import { startGateway } from "../support/Gateway.ts"
import { config, gatewayEnv, testDatabase, testPrefix } from "../support/Infra.ts"
import { spawnNode } from "../support/Processes.ts"

describe("promo codes across a worker crash", () => {
  it.live("a flow opened before SIGKILL continues on the next message after the takeover", () =>
    Effect.gen(function*() {
      const emulator = Context.get(yield* Layer.build(Emulator.layer()), Emulator)
      const prefix = yield* testPrefix("t-promo-kill")
      const databaseUrl = yield* testDatabase
      const env = gatewayEnv({
        prefix,
        databaseUrl,
        apiRoot: emulator.url,
        extra: { BOT_TOKEN: emulator.token, PARTITION_LEASE_MS: "3000", PARTITIONS: "4" }
      })
      const gateway = yield* startGateway({ env })
      yield* Effect.promise(() =>
        fetch(`${emulator.url}/bot${emulator.token}/setWebhook`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ url: `${gateway.url}/telegram/webhook`, secret_token: env.WEBHOOK_SECRET })
        })
      )
      // The platform's demo data, and this player linked to demo-1.
      const services = yield* Layer.build(Identity.layer.pipe(
        Layer.provideMerge(Postgres.layerUrl(Redacted.make(databaseUrl))),
        Layer.provide(config(env))
      ))
      yield* Effect.provide(seed, services)
      const chat = 901
      yield* Effect.provide(
        Effect.flatMap(Identity, (i) => i.link({ telegramUserId: chat, platformUserId: "demo-1", chatId: chat }, "platform")),
        services
      )

      const worker = { ...env, ROLES: "worker" }
      const first = yield* spawnNode("src/main.ts", worker)
      yield* emulator.injectUpdate(UpdateBuilders.command({ chatId: chat, command: "start" }))
      yield* emulator.awaitMessages(chat, 1, { timeout: "30 seconds" })
      yield* emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: chat }, chatId: chat, messageId: 1, data: "v1:bonuses:promo" }))
      const [, ask] = yield* emulator.awaitMessages(chat, 2, { timeout: "30 seconds" })
      assert.strictEqual(ask!.text, en.promoAsk)

      first.process.kill("SIGKILL")
      yield* spawnNode("src/main.ts", worker)
      yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: chat, text: "welcome10" }))
      const [, , activated] = yield* emulator.awaitMessages(chat, 3, { timeout: "30 seconds" })
      assert.strictEqual(activated!.text, `${en.promoActivated} 10 free spins`)

      // The flow ended with the code: the next text is an ordinary message again.
      yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: chat, text: "welcome10" }))
      const [, , , after] = yield* emulator.awaitMessages(chat, 4, { timeout: "30 seconds" })
      assert.strictEqual(after!.text, en.notUnderstood)
    }), { timeout: 120_000 })
})
