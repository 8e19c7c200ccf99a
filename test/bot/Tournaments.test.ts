/**
 * Tournaments & missions in the bot, from the reference platform: the running and upcoming tournaments (not the
 * finished one) with Join (Mini App) and Rules buttons, and "Remind me" for the upcoming one; missions only for a
 * linked player, with progress.
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

type Button = { text: string; url?: string; web_app?: { url: string }; callback_data?: string }
const buttons = (markup: unknown): ReadonlyArray<Button> =>
  ((markup as { inline_keyboard?: Array<Array<Button>> } | undefined)?.inline_keyboard ?? []).flat()

describe("tournaments and missions in the bot", () => {
  it.live("lists running and upcoming tournaments with Join, Rules and Remind me; missions for a linked player only", () =>
    Effect.gen(function*() {
      const { emulator, databaseUrl, env } = yield* startBotGateway("t-tournaments", { PUBLIC_URL: "https://casino.example.com" })
      const services = yield* Layer.build(Identity.layer.pipe(
        Layer.provideMerge(Postgres.layerUrl(Redacted.make(databaseUrl))),
        Layer.provide(config(env))
      ))
      yield* Effect.provide(seed, services)
      const press = (chat: number, data: string) =>
        emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: chat }, chatId: chat, messageId: 1, data }))

      yield* press(931, "v1:tournaments:list")
      const [list] = yield* emulator.awaitMessages(931, 1)
      const lines = list!.text!.split("\n")
      assert.strictEqual(lines[0], en.tournamentsHeader)
      assert.deepStrictEqual(lines.slice(1).map((l) => l.split(":")[0]), ["🏆 Weekly Slot Race", "🏆 Live Casino Cup"])
      assert.include(lines[1]!, en.tournamentRunning)
      assert.include(lines[2]!, en.tournamentUpcoming)
      assert.deepStrictEqual(
        buttons(list!.reply_markup).map((b) => [b.text, b.url ?? b.web_app?.url ?? b.callback_data]),
        [
          [`${en.join}: Weekly Slot Race`, "https://casino.example.com/app/#/tournament/t-weekly-race"],
          [en.rules, "https://example.com/rules/weekly-race"],
          [`${en.join}: Live Casino Cup`, "https://casino.example.com/app/#/tournament/t-live-cup"],
          [en.remindMe, "v1:tournaments:remind:t-live-cup"]
        ],
        "a running tournament has no Remind me"
      )

      yield* press(932, "v1:tournaments:missions")
      const [unlinked] = yield* emulator.awaitMessages(932, 1)
      assert.strictEqual(unlinked!.text, en.missionsLinkFirst)

      yield* Effect.provide(
        Effect.flatMap(Identity, (i) => i.link({ telegramUserId: 933, platformUserId: "demo-1", chatId: 933 }, "platform")),
        services
      )
      yield* press(933, "v1:tournaments:missions")
      const [missions] = yield* emulator.awaitMessages(933, 1)
      const missionLines = missions!.text!.split("\n")
      assert.strictEqual(missionLines[0], en.missionsHeader)
      assert.include(missionLines, "🎯 Spin 50 times on slots: 32/50 (10 free spins)")
      assert.notInclude(missions!.text!, "Play on Saturday and Sunday", "an ended mission is not shown")
    }))
})
