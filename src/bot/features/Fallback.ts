/** Anything no feature handled: a private-chat message gets a gentle pointer to the menu; the rest is ignored. */
import { Composer } from "grammy"
import type { BotContext } from "../BotContext.ts"
import { mainMenu } from "../keyboards/MainMenu.ts"

export const fallback = new Composer<BotContext>()

fallback.chatType("private").on("message", (ctx) => ctx.reply(ctx.t.notUnderstood, { reply_markup: mainMenu(ctx.t) }))
