/**
 * Settings: notification types on and off (stored as the account's consents, read by the notification path at
 * each event), the chat's language (English or Italian, kept in the chat's session), and unlinking the
 * account (after a confirmation; notifications stop at once and the platform is told).
 */
import { GrammyError } from "grammy"
import { Composer } from "../Composer.ts"
import { consentTypes } from "../../../services/Identity.ts"
import { answerQuery, menuFor } from "../Flow.ts"
import type { BotContext } from "../BotContext.ts"
import * as Keyboards from "../keyboards/Settings.ts"
import { texts } from "../texts/index.ts"

export const settings = new Composer<BotContext>()


settings.chatType("private").hears(Object.values(texts).map((t) => t.menu.settings), async (ctx) => {
  const current = await ctx.deps.settings()
  await ctx.reply(ctx.t.settings, { reply_markup: Keyboards.settings(ctx.t, ctx.language, current.consents, current.linked) })
})

for (const type of consentTypes) {
  for (const target of ["on", "off"] as const) {
    settings.chatType("private").callbackQuery(`v1:settings:toggle_${type}_${target}`, async (ctx) => {
      await answerQuery(ctx)
      const { consents, linked } = await ctx.deps.setConsents({ [type]: target === "on" })
      // The message may be gone or unchanged (a press handled again): then there is nothing to redraw.
      await ctx.editMessageReplyMarkup({ reply_markup: Keyboards.settings(ctx.t, ctx.language, consents, linked) })
        .catch((error: unknown) => {
          if (error instanceof GrammyError && error.error_code === 400) return true
          throw error
        })
    })
  }
}

settings.chatType("private").callbackQuery(["v1:settings:lang_en", "v1:settings:lang_it"], async (ctx) => {
  await answerQuery(ctx)
  const language = ctx.callbackQuery.data === "v1:settings:lang_it" ? "it" : "en"
  const t = texts[language]
  ctx.session = { ...ctx.session, language }
  await ctx.deps.setLanguage(language)
  await ctx.reply(t.languageSet, { reply_markup: menuFor(ctx, t) })
})

settings.chatType("private").callbackQuery("v1:settings:unlink", async (ctx) => {
  await answerQuery(ctx)
  await ctx.reply(ctx.t.unlinkConfirm, { reply_markup: Keyboards.unlinkConfirm(ctx.t) })
})

settings.chatType("private").callbackQuery("v1:settings:unlink_yes", async (ctx) => {
  await answerQuery(ctx)
  const unlinked = await ctx.deps.unlink()
  await ctx.reply(unlinked ? ctx.t.unlinked : ctx.t.notLinked, { reply_markup: menuFor(ctx) })
})

settings.chatType("private").callbackQuery("v1:settings:unlink_no", async (ctx) => {
  await answerQuery(ctx)
  await ctx.reply(ctx.t.unlinkKept, { reply_markup: menuFor(ctx) })
})
