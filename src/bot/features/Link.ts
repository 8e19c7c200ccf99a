/**
 * Confirming a `link_account` deep link: the player's "Link my account" or "Cancel" under the prompt sent by
 * `/start <token>`. The platform account waits in the chat's session for ten minutes; a Telegram account linked
 * to another platform account is refused (unlink first). No PII goes into the messages.
 */
import { Composer } from "../Composer.ts"
import { answerQuery, menuFor } from "../Flow.ts"
import type { BotContext } from "../BotContext.ts"

export const link = new Composer<BotContext>()


link.callbackQuery("v1:link:confirm", async (ctx) => {
  const pending = ctx.session.pendingLink
  await answerQuery(ctx)
  // Only the player who opened the link may confirm it; anyone else's press changes nothing.
  if (pending === undefined || pending.until < Date.now() || pending.telegramUserId !== ctx.from.id) {
    await ctx.reply(ctx.t.linkPendingGone, { reply_markup: menuFor(ctx) })
    return
  }
  const { pendingLink: _, ...rest } = ctx.session
  ctx.session = rest
  const outcome = await ctx.deps.confirmLink(pending.platformUserId)
  await ctx.reply(outcome === "linked" ? ctx.t.linkDone : ctx.t.linkTaken, { reply_markup: menuFor(ctx) })
})

link.callbackQuery("v1:link:cancel", async (ctx) => {
  const { pendingLink: _, ...rest } = ctx.session
  ctx.session = rest
  await answerQuery(ctx)
  await ctx.reply(ctx.t.linkCancelled, { reply_markup: menuFor(ctx) })
})
