/**
 * Promo codes, a two-step flow: "Enter a promo code" (or `/promo`) asks for the code, and the player's next text
 * message is the code. The step lives in the chat's session (Redis), so a restart or a partition takeover
 * between the two messages changes nothing: the next message still finds the flow. A menu button or a command
 * leaves the flow; three malformed answers end it. Attempts are limited per player (`PROMO_ATTEMPTS_PER_HOUR`).
 */
import { Composer } from "../Composer.ts"
import { answerQuery, clip, endFlow, menuFor, onFlowAnswer } from "../Flow.ts"
import type { BotContext, PromoAnswer } from "../BotContext.ts"
import type { Texts } from "../texts/index.ts"

/** What Telegram users type as a promo code: letters, digits, dashes. */
const codePattern = /^[A-Za-z0-9-]{3,32}$/
const maxMalformed = 3

export const promo = new Composer<BotContext>()


const begin = async (ctx: BotContext) => {
  ctx.session = { ...ctx.session, flow: { kind: "promo", attempts: 0 } }
  await ctx.reply(ctx.t.promoAsk)
}

promo.chatType("private").callbackQuery("v1:bonuses:promo", async (ctx) => {
  await answerQuery(ctx)
  await begin(ctx)
})
promo.chatType("private").command("promo", begin)


onFlowAnswer(promo, "promo", (t) => t.promoCancelled, async (ctx, text, tried) => {
  if (!codePattern.test(text)) {
    const attempts = tried + 1
    if (attempts >= maxMalformed) {
      endFlow(ctx)
      await ctx.reply(ctx.t.promoGaveUp, { reply_markup: menuFor(ctx) })
      return
    }
    ctx.session = { ...ctx.session, flow: { kind: "promo", attempts } }
    await ctx.reply(ctx.t.promoMalformed)
    return
  }
  const outcome = await ctx.deps.activatePromo(text)
  endFlow(ctx)
  await ctx.reply(replyTo(outcome, ctx.t), { reply_markup: menuFor(ctx) })
})

const replyTo = (outcome: PromoAnswer, t: Texts): string => {
  switch (outcome.status) {
    case "activated":
      return outcome.bonus === null ? t.promoActivated.replace(/:$/, ".") : `${t.promoActivated} ${clip(outcome.bonus, 300)}`
    case "unknown":
      return t.promoUnknown
    case "expired":
      return t.promoExpired
    case "already_used":
      return t.promoAlreadyUsed
    case "not_eligible":
      return t.promoNotEligible
    case "not_linked":
      return t.promoLinkFirst
    case "rate_limited":
      return t.promoTooMany
    case "unavailable":
      return t.promoUnavailable
  }
}
