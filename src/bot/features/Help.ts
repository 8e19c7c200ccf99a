/** `/help`: what the bot can do. */
import { Composer } from "grammy"
import type { BotContext } from "../BotContext.ts"
import { mainMenu } from "../keyboards/MainMenu.ts"

export const help = new Composer<BotContext>()

help.command("help", (ctx) => ctx.reply(ctx.t.help, { reply_markup: mainMenu(ctx.t) }))
