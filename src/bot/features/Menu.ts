/**
 * The main menu's four sections (reply-keyboard buttons, in either language) and their inline buttons.
 * Every callback query is answered; a button from an older layout gets a soft "no longer active".
 */
import { Option } from "effect"
import { Composer } from "../Composer.ts"
import type { BotContext } from "../BotContext.ts"
import * as CallbackData from "../CallbackData.ts"
import { answerQuery } from "../Flow.ts"
import * as Keyboards from "../keyboards/MainMenu.ts"
import { texts } from "../texts/index.ts"

export const menu = new Composer<BotContext>()

const labels = (section: "profile" | "tournaments" | "bonuses" | "support") =>
  Object.values(texts).map((t) => t.menu[section])

menu.hears(labels("profile"), (ctx) => ctx.reply(ctx.t.profile, { reply_markup: Keyboards.profile(ctx.t, ctx.deps.publicUrl, ctx.deps.cabinetUrl) }))
menu.hears(labels("tournaments"), (ctx) => ctx.reply(ctx.t.tournaments, { reply_markup: Keyboards.tournaments(ctx.t) }))
menu.hears(labels("bonuses"), (ctx) => ctx.reply(ctx.t.bonuses, { reply_markup: Keyboards.bonuses(ctx.t) }))
menu.hears(labels("support"), (ctx) => ctx.reply(ctx.t.support, { reply_markup: Keyboards.support(ctx.t) }))

const answers = (ctx: BotContext, data: CallbackData.CallbackData): string | undefined => {
  switch (`${data.section}:${data.action}`) {
    case "profile:open":
      return ctx.t.profile
    case "support:faq":
      return ctx.t.faqAnswer
    default:
      return undefined
  }
}

menu.on("callback_query:data", async (ctx) => {
  const data = CallbackData.parse(ctx.callbackQuery.data)
  const text = Option.isSome(data) ? answers(ctx, data.value) : undefined
  if (text === undefined) {
    await answerQuery(ctx, ctx.t.staleButton)
    return
  }
  await answerQuery(ctx)
  if (ctx.chat !== undefined) await ctx.reply(text)
})

// Buttons without data (games) or anything else: answer, so the client stops its spinner.
menu.on("callback_query", (ctx) => answerQuery(ctx, ctx.t.staleButton))
