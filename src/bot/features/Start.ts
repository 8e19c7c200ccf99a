/**
 * `/start` with and without a deep-link payload. A payload must be 1-64 characters of `A-Z a-z 0-9 _ -`
 * (what Telegram allows); the chat is recorded (first touch keeps its payload) and greeted with the main menu.
 */
import { Composer } from "grammy"
import type { BotContext } from "../BotContext.ts"
import { mainMenu } from "../keyboards/MainMenu.ts"

const payloadPattern = /^[A-Za-z0-9_-]{1,64}$/

export const start = new Composer<BotContext>()

start.command("start", async (ctx) => {
  const payload = ctx.match.trim()
  const valid = payload === "" || payloadPattern.test(payload)
  const firstTime = ctx.session.startedAt === undefined
  await ctx.deps.recordStart(
    { id: ctx.chat.id, type: ctx.chat.type },
    ctx.from?.language_code,
    valid && payload !== "" ? payload : undefined
  )
  ctx.session = {
    ...ctx.session,
    startedAt: ctx.session.startedAt ?? ctx.message?.date ?? 0,
    ...(valid && payload !== "" ? { startPayload: payload } : {})
  }
  if (!valid) {
    await ctx.reply(ctx.t.linkInvalid, { reply_markup: mainMenu(ctx.t) })
    return
  }
  const greeting = firstTime ? ctx.t.welcome : ctx.t.welcomeBack
  await ctx.reply(payload === "" ? greeting : `${greeting}\n\n${ctx.t.linkReceived}`, {
    reply_markup: mainMenu(ctx.t)
  })
})
