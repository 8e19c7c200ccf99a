/**
 * Money never moves in the chat: any message about depositing, withdrawing or paying in or out (English or
 * Italian), and `/deposit` or `/withdraw`, is answered with a button to the operator's web cabinet.
 */
import { Composer } from "../Composer.ts"
import type { BotContext } from "../BotContext.ts"
import { menuFor } from "../Flow.ts"
import { cabinet } from "../keyboards/MainMenu.ts"

/** Words of a money intent, matched at word starts: deposit(s/ing), withdraw(al), top up, cash out, pay in/out. */
export const moneyIntent =
  /(^|[^\p{L}])(deposit|withdraw|top[ -]?up|cash[ -]?out|pay[ -]?(in|out)|payout|depositare|deposito|versa(re|mento)|ricaric|prelev|prelievo|incassa)/iu

export const money = new Composer<BotContext>()

const toCabinet = (ctx: BotContext) =>
  ctx.reply(ctx.t.moneyInCabinet, { reply_markup: cabinet(ctx.t, ctx.deps.cabinetUrl) ?? menuFor(ctx) })

money.command(["deposit", "withdraw"], toCabinet)
money.chatType("private").hears(moneyIntent, toCabinet)
