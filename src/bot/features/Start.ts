/**
 * `/start` with and without a deep-link payload; the chat is recorded and greeted with the main menu. A payload is
 * a one-time deep-link token (`services/Arrivals.ts`): a campaign or a referral is welcomed, a
 * `link_account` asks the player to confirm, a `resume` offers to continue; a reused, expired, foreign or
 * unknown token gets its own friendly message, never internal detail.
 */
import { InlineKeyboard } from "grammy"
import { Composer } from "../Composer.ts"
import type { Arrival } from "../../../services/Arrivals.ts"
import type { BotContext } from "../BotContext.ts"
import { menuFor } from "../Flow.ts"
import * as CallbackData from "../CallbackData.ts"
import type { Texts } from "../texts/index.ts"

/** How long a `link_account` confirmation stays valid in the chat. */
const confirmWithinMs = 10 * 60_000

export const start = new Composer<BotContext>()

start.command("start", async (ctx) => {
  const payload = ctx.match.trim()
  const firstTime = ctx.session.startedAt === undefined
  // The payload is a deep-link token: it is resolved, never stored (only its hash is, by `DeepLinks`).
  await ctx.deps.recordStart({ id: ctx.chat.id, type: ctx.chat.type }, ctx.from?.language_code)
  ctx.session = { ...ctx.session, startedAt: ctx.session.startedAt ?? ctx.message?.date ?? 0 }
  // A first visit is welcomed whatever the link said; a returning player gets the link's answer alone.
  const withGreeting = (text: string) => firstTime ? `${ctx.t.welcome}\n\n${text}` : text
  // Links act only in the player's own chat with the bot (a group's members must not use one another's).
  if (payload === "" || ctx.from === undefined || ctx.chat.type !== "private") {
    await ctx.reply(firstTime ? ctx.t.welcome : ctx.t.welcomeBack, { reply_markup: menuFor(ctx) })
    return
  }
  // Anything that is no token of ours (other characters, too long) is refused and counted by the deep-link service.
  const arrival = await ctx.deps.arrive(payload)
  if (arrival.kind === "link_account") {
    ctx.session = {
      ...ctx.session,
      pendingLink: {
        platformUserId: arrival.platformUserId,
        telegramUserId: ctx.from.id,
        until: (ctx.message?.date ?? 0) * 1000 + confirmWithinMs
      }
    }
    await ctx.reply(withGreeting(ctx.t.linkConfirm), {
      reply_markup: new InlineKeyboard()
        .text(ctx.t.linkConfirmButton, CallbackData.encode("link", "confirm"))
        .text(ctx.t.linkCancelButton, CallbackData.encode("link", "cancel"))
    })
    return
  }
  const [text, buttons] = answerTo(arrival, ctx.t, ctx.deps.appUrl)
  await ctx.reply(withGreeting(text), {
    reply_markup: buttons ?? menuFor(ctx)
  })
})

/** The message (and inline buttons, if any) for an arrival other than a link to confirm. */
const answerTo = (arrival: Arrival, t: Texts, app: string | undefined): readonly [string, InlineKeyboard | undefined] => {
  switch (arrival.kind) {
    case "refused":
      return [
        arrival.result === "reused" ? t.linkReused
          : arrival.result === "expired" ? t.linkExpired
          : arrival.result === "not_yours" ? t.linkNotYours
          : t.linkInvalid,
        undefined
      ]
    case "campaign":
      return [
        t.campaignWelcome,
        arrival.landing !== undefined && app !== undefined
          ? new InlineKeyboard().webApp(t.landing[arrival.landing.type], `${app}#/${arrival.landing.type}/${encodeURIComponent(arrival.landing.id)}`)
          : undefined
      ]
    case "referral":
      return [t.referralWelcome, undefined]
    case "resume":
      return [
        t.resumePrompt,
        app === undefined
          ? undefined
          : new InlineKeyboard().webApp(t.resumeButton, `${app}#/${arrival.step}${arrival.id === undefined ? "" : `/${encodeURIComponent(arrival.id)}`}`)
      ]
    case "link_account":
      return [t.linkInvalid, undefined]
  }
}
