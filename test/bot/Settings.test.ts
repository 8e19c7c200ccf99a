/**
 * Settings in the bot, end to end through the webhook and the emulator: the settings message shows each
 * notification type's state; a toggle flips the consent the notification path reads and redraws the
 * buttons; the language switch answers in Italian from then on; unlinking asks first, then the platform
 * stops reaching the chat at once and is told (`telegram_unlinked`).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { en } from "../../src/bot/texts/en.ts"
import { it as italian } from "../../src/bot/texts/it.ts"
import { UpdateBuilders } from "../../src/emulator/index.ts"
import { startBotGateway } from "../support/EmulatorGateway.ts"
import { redisClient } from "../support/Infra.ts"

const buttons = (markup: unknown): ReadonlyArray<{ text: string; callback_data?: string }> =>
  ((markup as { inline_keyboard?: Array<Array<{ text: string; callback_data?: string }>> }).inline_keyboard ?? []).flat()

describe("settings in the bot", () => {
  it.live("toggles notification types, switches the language, and unlinks after a confirmation", () =>
    Effect.gen(function*() {
      const eventsStream = `t-settings-${Date.now()}:gateway:events`
      const { emulator, databaseUrl } = yield* startBotGateway("t-settings", { GATEWAY_EVENTS_STREAM: eventsStream })
      const redis = yield* redisClient()
      yield* Effect.addFinalizer(() => Effect.promise(() => redis.del(eventsStream)))
      const query = <A extends object>(run: (sql: PgClient.PgClient) => Effect.Effect<ReadonlyArray<A>, unknown>) =>
        Effect.scoped(Effect.flatMap(PgClient.make({ url: Redacted.make(databaseUrl) }), run)).pipe(
          Effect.provide(Reactivity.layer),
          Effect.orDie
        )
      const chat = 801
      const press = (data: string, messageId: number) =>
        emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: chat }, chatId: chat, messageId, data }))

      yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: chat, text: en.menu.settings }))
      const [menu] = yield* emulator.awaitMessages(chat, 1)
      assert.strictEqual(menu!.text, en.settings)
      assert.deepStrictEqual(buttons(menu!.reply_markup).map((b) => b.text), [
        `🔕 ${en.consent.promotions}: ${en.off}`,
        `🔕 ${en.consent.tournaments}: ${en.off}`,
        `🔔 ${en.consent.payouts}: ${en.on}`,
        en.languageButton
      ])

      yield* press("v1:settings:toggle_tournaments_on", menu!.message_id)
      // The log holds every send and edit of the chat, in order.
      const redrawn = (yield* emulator.awaitMessages(chat, 2))[1]!
      assert.strictEqual(redrawn.method, "editMessageReplyMarkup")
      assert.strictEqual(buttons(redrawn.reply_markup)[1]!.text, `🔔 ${en.consent.tournaments}: ${en.on}`)
      const consents = yield* query((sql) => sql<{ consent_tournaments: boolean }>`
        SELECT consent_tournaments FROM identities WHERE telegram_user_id = ${chat}`)
      assert.deepStrictEqual(consents.map((r) => r.consent_tournaments), [true])

      // Linked by the platform meanwhile: the settings now offer to unlink.
      yield* query((sql) => sql`UPDATE identities SET platform_user_id = 'player-801', linked_at = now() WHERE telegram_user_id = ${chat} RETURNING 1`)
      yield* press("v1:settings:unlink", menu!.message_id)
      const confirm = (yield* emulator.awaitMessages(chat, 3))[2]
      assert.strictEqual(confirm!.text, en.unlinkConfirm)
      yield* press("v1:settings:unlink_yes", confirm!.message_id)
      const done = (yield* emulator.awaitMessages(chat, 4))[3]
      assert.strictEqual(done!.text, en.unlinked)
      const links = yield* query((sql) => sql<{ platform_user_id: string | null }>`
        SELECT platform_user_id FROM identities WHERE telegram_user_id = ${chat}`)
      assert.deepStrictEqual(links.map((r) => r.platform_user_id), [null])
      const events = (yield* Effect.promise(() => redis.xrange(eventsStream, "-", "+")))
        .map(([, fields]) => JSON.parse(fields[fields.indexOf("event") + 1]!) as Record<string, unknown>)
      assert.deepStrictEqual(events.map((e) => [e["type"], e["platform_user_id"]]), [["telegram_unlinked", "player-801"]])

      yield* press("v1:settings:lang_it", menu!.message_id)
      const language = (yield* emulator.awaitMessages(chat, 5))[4]
      assert.strictEqual(language!.text, italian.languageSet)
      const chosen = yield* query((sql) => sql<{ language: string | null }>`
        SELECT language FROM identities WHERE telegram_user_id = ${chat}
      `)
      assert.deepStrictEqual(chosen, [{ language: "it" }], "kept with the identity: notifications are written in it")
      yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: chat, text: italian.menu.settings }))
      const italianSettings = (yield* emulator.awaitMessages(chat, 6))[5]
      assert.strictEqual(italianSettings!.text, italian.settings)
    }))

  it.live("applies notification settings the Mini App sends with sendData; anything else gets a friendly answer", () =>
    Effect.gen(function*() {
      const { emulator, databaseUrl } = yield* startBotGateway("t-webappdata")
      const chat = 802
      const send = (data: string) =>
        emulator.injectUpdate({
          message: {
            from: { id: chat, is_bot: false, first_name: "Mia" },
            chat: { id: chat, type: "private", first_name: "Mia" },
            web_app_data: { data, button_text: "Settings" }
          }
        })
      yield* send(JSON.stringify({ v: 1, type: "consents", promotions: true, payouts: false }))
      assert.strictEqual((yield* emulator.awaitMessages(chat, 1))[0]!.text, en.webAppSaved)
      for (const bad of ["not json", JSON.stringify({ v: 2, type: "consents" }), JSON.stringify({ v: 1, type: "consents", promotions: "yes" }),
        JSON.stringify({ v: 1, type: "consents", admin: true })]) {
        yield* send(bad)
      }
      const answers = yield* emulator.awaitMessages(chat, 5)
      assert.deepStrictEqual(answers.slice(1).map((m) => m.text), [en.webAppInvalid, en.webAppInvalid, en.webAppInvalid, en.webAppInvalid])
      const rows = yield* Effect.scoped(Effect.flatMap(PgClient.make({ url: Redacted.make(databaseUrl) }), (sql) =>
        sql<{ consent_promotions: boolean; consent_tournaments: boolean; consent_payouts: boolean }>`
          SELECT consent_promotions, consent_tournaments, consent_payouts FROM identities WHERE telegram_user_id = ${chat}`))
        .pipe(Effect.provide(Reactivity.layer))
      assert.deepStrictEqual(rows.map((r) => ({ ...r })), [{ consent_promotions: true, consent_tournaments: false, consent_payouts: false }])
    }))
})
