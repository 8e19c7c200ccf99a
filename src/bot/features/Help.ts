/** `/help`: what the bot can do. */
import { Composer } from "../Composer.ts"
import type { BotContext } from "../BotContext.ts"
import { menuFor } from "../Flow.ts"

export const help = new Composer<BotContext>()

help.command("help", (ctx) => ctx.reply(ctx.t.help, { reply_markup: menuFor(ctx) }))
