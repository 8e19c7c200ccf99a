/**
 * The bot end to end: the Bot API emulator delivers updates to our webhook and records the answers. `/start` with and
 * without a payload, `/help`, each main-menu section, callback queries (current and stale) answered, texts in
 * the user's language, the chat recorded in Postgres.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { en } from "../../src/bot/texts/en.ts"
import { it as italian } from "../../src/bot/texts/it.ts"
import { moneyIntent } from "../../src/bot/features/Money.ts"
import { UpdateBuilders } from "../../src/emulator/index.ts"
import { startBotGateway } from "../support/EmulatorGateway.ts"


const keyboardTexts = (markup: unknown): ReadonlyArray<string> => {
  const m = markup as { keyboard?: Array<Array<{ text: string }>>; inline_keyboard?: Array<Array<{ text: string }>> }
  return (m.keyboard ?? m.inline_keyboard ?? []).flat().map((b) => b.text)
}

describe("bot", () => {
  it.live("greets on /start with the main menu and records the chat", () =>
    Effect.gen(function*() {
      const { emulator, databaseUrl } = yield* startBotGateway("t-bot-start")
      yield* emulator.injectUpdate(UpdateBuilders.command({ chatId: 501, command: "start" }))
      const [welcome] = yield* emulator.awaitMessages(501, 1)
      assert.strictEqual(welcome!.text, en.welcome)
      assert.deepStrictEqual(keyboardTexts(welcome!.reply_markup), Object.values(en.menu))

      yield* emulator.injectUpdate(UpdateBuilders.command({ chatId: 501, command: "start" }))
      const messages = yield* emulator.awaitMessages(501, 2)
      assert.strictEqual(messages[1]!.text, en.welcomeBack)

      const rows = yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* PgClient.make({ url: Redacted.make(databaseUrl) })
        return yield* sql<{ chat_type: string }>`SELECT chat_type FROM chats WHERE chat_id = 501`
      })).pipe(Effect.provide(Reactivity.layer))
      assert.deepStrictEqual(rows.map((r) => r.chat_type), ["private"])
    }))

  it.live("accepts a deep-link payload, refuses a malformed one, answers in Italian to Italian users", () =>
    Effect.gen(function*() {
      const { emulator } = yield* startBotGateway("t-bot-payload")
      // A well-formed payload that is no deep link of ours: welcomed, and told the link is not valid.
      yield* emulator.injectUpdate(UpdateBuilders.command({ chatId: 502, command: "start", args: "camp_AbC-123" }))
      const [unknown] = yield* emulator.awaitMessages(502, 1)
      assert.strictEqual(unknown!.text, `${en.welcome}\n\n${en.linkInvalid}`)

      yield* emulator.injectUpdate(UpdateBuilders.command({ chatId: 503, command: "start", args: "bad$payload" }))
      const [refused] = yield* emulator.awaitMessages(503, 1)
      assert.strictEqual(refused!.text, `${en.welcome}\n\n${en.linkInvalid}`)

      yield* emulator.injectUpdate(UpdateBuilders.command({ chatId: 504, command: "start", from: { id: 504, language_code: "it" } }))
      const [benvenuto] = yield* emulator.awaitMessages(504, 1)
      assert.strictEqual(benvenuto!.text, italian.welcome)
      assert.deepStrictEqual(keyboardTexts(benvenuto!.reply_markup), Object.values(italian.menu))
    }))

  it.live("answers every deposit or withdrawal intent with a button to the cabinet, never in the chat", () =>
    Effect.gen(function*() {
      const { emulator } = yield* startBotGateway("t-bot-money", { CABINET_URL: "https://cabinet.example.com/" })
      const asks = [
        [511, "I want to deposit 50", undefined],
        [512, "/withdraw", undefined],
        [513, "come faccio un prelievo?", "it"],
        [514, "Cash out please", undefined]
      ] as const
      for (const [chatId, text, language] of asks) {
        const from = language === undefined ? { id: chatId } : { id: chatId, language_code: language }
        yield* emulator.injectUpdate(text.startsWith("/")
          ? UpdateBuilders.command({ chatId, command: text, from })
          : UpdateBuilders.textMessage({ chatId, text, from }))
      }
      for (const [chatId, , language] of asks) {
        const [answer] = yield* emulator.awaitMessages(chatId, 1)
        assert.strictEqual(answer!.text, language === "it" ? italian.moneyInCabinet : en.moneyInCabinet)
        const button = (answer!.reply_markup as { inline_keyboard: Array<Array<{ text: string; url?: string }>> }).inline_keyboard[0]![0]!
        assert.strictEqual(button.url, "https://cabinet.example.com/")
      }
    }))

  it.live("unknown commands, a 4096-character text and odd characters get the friendly pointer to the menu", () =>
    Effect.gen(function*() {
      const { emulator } = yield* startBotGateway("t-bot-bad-input")
      const inputs = [[521, "/nonsense"], [522, "x".repeat(4096)], [523, "🙂\u0000\u202e<script>alert(1)</script>"], [524, "/start@other_bot"]] as const
      for (const [chatId, text] of inputs) {
        yield* emulator.injectUpdate(text.startsWith("/")
          ? UpdateBuilders.command({ chatId, command: text })
          : UpdateBuilders.textMessage({ chatId, text }))
      }
      const answers = yield* Effect.all(inputs.map(([chatId]) => emulator.awaitMessages(chatId, 1)))
      assert.deepStrictEqual(answers.map(([m]) => m!.text), [en.notUnderstood, en.notUnderstood, en.notUnderstood, en.notUnderstood])
    }))

  it.live("with PUBLIC_URL the main menu opens the Mini App from the keyboard in private chats, not in groups", () =>
    Effect.gen(function*() {
      const { emulator } = yield* startBotGateway("t-bot-app", { PUBLIC_URL: "https://casino.example.com" })
      yield* emulator.injectUpdate(UpdateBuilders.command({ chatId: 531, command: "start" }))
      yield* emulator.injectUpdate(UpdateBuilders.command({ chatId: -1001234, command: "start", from: { id: 532 } }))
      const [inPrivate] = yield* emulator.awaitMessages(531, 1)
      const [inGroup] = yield* emulator.awaitMessages(-1001234, 1)
      const appButton = (markup: unknown) =>
        ((markup as { keyboard: Array<Array<{ text: string; web_app?: { url: string } }>> }).keyboard).flat().find((b) => b.web_app !== undefined)
      assert.deepStrictEqual(appButton(inPrivate!.reply_markup), { text: en.openApp, web_app: { url: "https://casino.example.com/app/" } })
      assert.isUndefined(appButton(inGroup!.reply_markup))
    }))

  it("tells money intents from other words", () => {
    for (const text of ["deposit", "Withdrawal limits?", "top-up", "ricaricare il conto", "prelevare", "payout status"]) {
      assert.match(text, moneyIntent, text)
    }
    for (const text of ["hello", "positive", "redeposition", "tournament rules", "topic"]) assert.notMatch(text, moneyIntent, text)
  })

  it.live("answers /help, every menu section, and unknown text", () =>
    Effect.gen(function*() {
      const { emulator } = yield* startBotGateway("t-bot-menu")
      const chatId = 505
      const texts = ["/help", en.menu.profile, en.menu.tournaments, en.menu.bonuses, en.menu.support, "what?"]
      for (const text of texts) {
        const update = text.startsWith("/")
          ? UpdateBuilders.command({ chatId, command: text })
          : UpdateBuilders.textMessage({ chatId, text })
        yield* emulator.injectUpdate(update)
      }
      const answers = yield* emulator.awaitMessages(chatId, texts.length)
      assert.deepStrictEqual(answers.map((m) => m.text), [
        en.help, en.profile, en.tournaments, en.bonuses, en.support, en.notUnderstood
      ])
      assert.deepStrictEqual(keyboardTexts(answers[2]!.reply_markup), [en.tournamentsList, en.missionsList])
      assert.deepStrictEqual(keyboardTexts(answers[4]!.reply_markup), [en.faq, en.openTicket, en.contact])
    }))

  it.live("answers every callback query: current buttons act, stale or forged ones get a soft answer", () =>
    Effect.gen(function*() {
      const { emulator } = yield* startBotGateway("t-bot-callback")
      const chatId = 506
      const press = (data: string) =>
        emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: chatId }, chatId, messageId: 1, data }))
      yield* press("v1:support:faq")
      yield* press("v0:menu:old")
      yield* press("v1:support:faq:extra")
      yield* press("x".repeat(64))
      const answered = yield* emulator.awaitCalls((c) => c.method === "answerCallbackQuery", 4)
      assert.deepStrictEqual(answered.map((c) => c.params["text"]), [
        undefined, en.staleButton, en.staleButton, en.staleButton
      ])
      assert.isTrue(answered.every((c) => c.ok))
      const [faq] = yield* emulator.awaitMessages(chatId, 1)
      assert.strictEqual(faq!.text, en.faqAnswer)
    }))
})
