/** Anything no feature handled: a private-chat message gets a gentle pointer to the menu; the rest is ignored. */
import { Composer } from "../Composer.ts"
import type { BotContext } from "../BotContext.ts"
import { menuFor } from "../Flow.ts"

export const fallback = new Composer<BotContext>()

fallback.chatType("private").on("message", (ctx) => ctx.reply(ctx.t.notUnderstood, { reply_markup: menuFor(ctx) }))
