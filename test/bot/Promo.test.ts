/**
 * The promo-code flow in the bot: a linked player's code is activated once (then "already used"), unknown and
 * expired codes are told apart, malformed answers are asked again and end the flow after three, a menu button
 * leaves the flow, an unlinked player is sent to link first, and attempts beyond the hourly budget are refused.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as Postgres from "../../layers/Postgres.ts"
import { en } from "../../src/bot/texts/en.ts"
import { UpdateBuilders } from "../../src/emulator/index.ts"
import { Identity } from "../../services/Identity.ts"
import { seed } from "../../services/platform/Seed.ts"
import { startBotGateway } from "../support/EmulatorGateway.ts"
import { config } from "../support/Infra.ts"

const setup = (extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const gateway = yield* startBotGateway("t-promo", extra)
    const services = yield* Layer.build(Identity.layer.pipe(
      Layer.provideMerge(Postgres.layerUrl(Redacted.make(gateway.databaseUrl))),
      Layer.provide(config(gateway.env))
    ))
    yield* Effect.provide(seed, services)
    const link = (chat: number, userId: string) =>
      Effect.provide(Effect.flatMap(Identity, (i) => i.link({ telegramUserId: chat, platformUserId: userId, chatId: chat }, "platform")), services)
    /** Sends `texts` one after the other, each after the bot's answer to the previous one; answers the answers. */
    const say = (chat: number, texts: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const before = (yield* gateway.emulator.messages(chat)).length
        for (const [i, text] of texts.entries()) {
          yield* gateway.emulator.injectUpdate(text.startsWith("/")
            ? UpdateBuilders.command({ chatId: chat, command: text })
            : UpdateBuilders.textMessage({ chatId: chat, text }))
          yield* gateway.emulator.awaitMessages(chat, before + i + 1)
        }
        return (yield* gateway.emulator.messages(chat)).slice(before).map((m) => m.text)
      })
    return { ...gateway, link, say }
  })

describe("promo codes in the bot", () => {
  it.live("activates once, tells unknown, expired and used codes apart, asks again for malformed ones", () =>
    Effect.gen(function*() {
      const { link, say } = yield* setup()
      yield* link(911, "demo-1")
      assert.deepStrictEqual(yield* say(911, ["/promo", "welcome10", "/promo", "WELCOME10", "/promo", "NOPE-123", "/promo", "spring"]), [
        en.promoAsk, `${en.promoActivated} 10 free spins`,
        en.promoAsk, en.promoAlreadyUsed,
        en.promoAsk, en.promoUnknown,
        en.promoAsk, en.promoExpired
      ])
      assert.deepStrictEqual(yield* say(911, ["/promo", "no way!", "x", "#@!"]), [
        en.promoAsk, en.promoMalformed, en.promoMalformed, en.promoGaveUp
      ])
      // A menu button leaves the flow and does what it says.
      assert.deepStrictEqual(yield* say(911, ["/promo", en.menu.support]), [en.promoAsk, en.support])
    }))

  it.live("an unlinked player is sent to link first; attempts beyond the hourly budget are refused", () =>
    Effect.gen(function*() {
      const { link, say } = yield* setup({ PROMO_ATTEMPTS_PER_HOUR: "2" })
      assert.deepStrictEqual(yield* say(921, ["/promo", "WELCOME10"]), [en.promoAsk, en.promoLinkFirst])
      yield* link(922, "demo-2")
      assert.deepStrictEqual(yield* say(922, ["/promo", "AAA-1", "/promo", "AAA-2", "/promo", "WELCOME10"]), [
        en.promoAsk, en.promoUnknown, en.promoAsk, en.promoUnknown, en.promoAsk, en.promoTooMany
      ])
    }))

  it.live("a code whose answer failed to send once is still answered 'activated', not 'already used'", () =>
    Effect.gen(function*() {
      const { emulator, link, say } = yield* setup()
      yield* link(951, "demo-1")
      assert.deepStrictEqual(yield* say(951, ["/promo"]), [en.promoAsk])
      yield* emulator.configureFaults({ errorRate: 1, errorStatus: 502, methods: ["sendMessage"] })
      yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: 951, text: "WELCOME10" }))
      yield* emulator.awaitCalls((c) => c.method === "sendMessage" && c.status === 502)
      yield* emulator.configureFaults({ errorRate: 0 })
      const answers = yield* emulator.awaitMessages(951, 2, { timeout: "20 seconds" })
      assert.strictEqual(answers[1]!.text, `${en.promoActivated} 10 free spins`)
    }))
})
