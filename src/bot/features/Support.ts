/**
 * Support tickets, a two-step flow like promo codes: "Open a ticket" asks for a description, and the player's
 * next text message is it. The step lives in the chat's session; a command or a menu button leaves the flow.
 * The ticket is stored once per update (a re-run opens nothing twice) and the platform's support is told.
 */
import { Composer } from "../Composer.ts"
import type { BotContext } from "../BotContext.ts"
import { answerQuery, endFlow, menuFor, onFlowAnswer } from "../Flow.ts"

export const support = new Composer<BotContext>()

support.chatType("private").callbackQuery("v1:support:ticket", async (ctx) => {
  await answerQuery(ctx)
  ctx.session = { ...ctx.session, flow: { kind: "ticket", attempts: 0 } }
  await ctx.reply(ctx.t.ticketAsk)
})

// The platform's support is asked for an operator (`support_operator_requested`), who answers in this chat.
support.chatType("private").callbackQuery("v1:support:contact", async (ctx) => {
  await answerQuery(ctx)
  await ctx.deps.requestOperator()
  await ctx.reply(ctx.t.contactAnswer)
})

onFlowAnswer(support, "ticket", (t) => t.ticketCancelled, async (ctx, text) => {
  if (text.length < 5) {
    await ctx.reply(ctx.t.ticketTooShort)
    return
  }
  const id = await ctx.deps.openTicket(text)
  endFlow(ctx)
  await ctx.reply(`${ctx.t.ticketOpened} ${id}.`, { reply_markup: menuFor(ctx) })
})
