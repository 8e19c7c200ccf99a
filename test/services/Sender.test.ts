/**
 * The Sender's idempotency: a key already sent answers with the recorded result and sends nothing; a failed
 * call records nothing (it may be retried); a call whose earlier attempt died mid-flight is not sent again, and
 * neither is one whose record its caller holds back and has not written yet; a group upgraded to a supergroup is
 * written to at its new id.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as RedisLayer from "../../layers/Redis.ts"
import { BotApi } from "../../services/BotApi.ts"
import { Sender } from "../../services/Sender.ts"
import { SendLimits } from "../../services/SendLimits.ts"
import { Emulator } from "../../src/emulator/index.ts"
import { Keys } from "../../streams/Keys.ts"
import { config, redisClient, redisUrl, testPrefix, unlimitedSending } from "../support/Infra.ts"

const setup = Effect.gen(function*() {
  const emulator = Context.get(yield* Layer.build(Emulator.layer()), Emulator)
  const prefix = yield* testPrefix("t-sender")
  const context = yield* Layer.build(
    Sender.layer.pipe(
      Layer.provide(Layer.mergeAll(BotApi.layer, SendLimits.layer)),
      Layer.provide(Layer.mergeAll(RedisLayer.layerUrl(redisUrl), Keys.layer)),
      Layer.provide(config({ REDIS_PREFIX: prefix, BOT_TOKEN: emulator.token, TELEGRAM_API_ROOT: emulator.url, ...unlimitedSending }))
    )
  )
  return { emulator, sender: Context.get(context, Sender), prefix }
})

const message = (key: string, chatId = 901) => ({
  method: "sendMessage",
  params: { chat_id: chatId, text: `hello ${key}` },
  lane: "interactive" as const,
  idempotencyKey: key
})

describe("Sender", () => {
  it.live("sends a key once and answers repeats with the recorded result", () =>
    Effect.gen(function*() {
      const { emulator, sender } = yield* setup
      const first = yield* sender.call(message("u1:0"))
      const again = yield* sender.call(message("u1:0"))
      assert.deepStrictEqual(again, first)
      yield* sender.call(message("u1:1"))
      const sent = yield* emulator.messages(901)
      assert.deepStrictEqual(sent.map((m) => m.text), ["hello u1:0", "hello u1:1"])
    }))

  it.live("records nothing when Telegram refuses, so the same key can be sent later", () =>
    Effect.gen(function*() {
      const { emulator, sender } = yield* setup
      yield* emulator.blockUsers([902])
      const refused = yield* Effect.flip(sender.call(message("u2:0", 902)))
      assert.strictEqual(refused._tag, "SendError")
      if (refused._tag === "SendError") assert.deepInclude(refused.reason, { _tag: "TelegramError", code: 403 })
      yield* emulator.setChatState([902], "active")
      yield* sender.call(message("u2:0", 902))
      assert.strictEqual((yield* emulator.messages(902)).length, 1)
    }))

  it.live("does not send again a call whose earlier attempt died in flight (at most once)", () =>
    Effect.gen(function*() {
      const { emulator, sender, prefix } = yield* setup
      const client = yield* redisClient()
      yield* Effect.promise(() => client.set(Keys.make(prefix, 16).outbound("u3:0"), "P"))
      const inDoubt = yield* Effect.flip(sender.call(message("u3:0", 903)))
      assert.strictEqual(inDoubt._tag === "SendError" ? inDoubt.reason._tag : inDoubt._tag, "InDoubt")
      assert.strictEqual((yield* emulator.messages(903)).length, 0)
    }))

  it.live("hands the record to a caller that defers it: in doubt until it is written, then the recorded result", () =>
    Effect.gen(function*() {
      const { emulator, sender } = yield* setup
      const writes: Array<Effect.Effect<void, unknown>> = []
      const sent = yield* sender.call({ ...message("u5:0", 905), deferRecord: (write) => writes.push(write) })
      assert.strictEqual(writes.length, 1)
      const early = yield* Effect.flip(sender.call(message("u5:0", 905)))
      assert.strictEqual(early._tag === "SendError" ? early.reason._tag : early._tag, "InDoubt")
      yield* Effect.all(writes)
      assert.deepStrictEqual(yield* sender.call(message("u5:0", 905)), sent)
      assert.strictEqual((yield* emulator.messages(905)).length, 1)
    }))

  it.live("writes to the supergroup a group was upgraded to (migrate_to_chat_id)", () =>
    Effect.gen(function*() {
      const { emulator, sender } = yield* setup
      yield* emulator.registerChat({ id: -1_004_001, type: "supergroup", title: "Club" })
      yield* emulator.registerChat({ id: -4001, type: "group", title: "Club", migratedTo: -1_004_001 })
      const result = yield* sender.call(message("u4:0", -4001))
      assert.deepInclude(result as object, { chat: { id: -1_004_001, type: "supergroup", title: "Club" } })
      assert.deepStrictEqual((yield* emulator.messages(-1_004_001)).map((m) => m.text), ["hello u4:0"])
      assert.strictEqual((yield* emulator.messages(-4001)).length, 0)
    }))
})
