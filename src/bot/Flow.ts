/**
 * What the features share: answering a callback query safely, and the multi-step flows' bookkeeping (a flow's
 * step lives in the chat's session; a command or a menu button leaves it).
 */
import { type Composer, GrammyError } from "grammy"
import type { BotContext } from "./BotContext.ts"
import { mainMenu } from "./keyboards/MainMenu.ts"
import { type Texts, texts } from "./texts/index.ts"

/**
 * Answers the query so the client stops its spinner. Telegram refuses answers to queries older than about 15 s
 * (a replay after an outage): that 400 is expected and must not fail the update.
 */
export const answerQuery = (ctx: BotContext, text?: string) =>
  ctx.answerCallbackQuery(text === undefined ? undefined : { text }).catch((error: unknown) => {
    if (error instanceof GrammyError && error.error_code === 400) return false
    throw error
  })

const menuLabels = new Set(Object.values(texts).flatMap((t) => Object.values(t.menu)))

/** A message that is not an answer to the flow's question: a command or a main-menu button. */
const leavesFlow = (text: string): boolean => text.startsWith("/") || menuLabels.has(text)

export const endFlow = (ctx: BotContext) => {
  const { flow: _, ...rest } = ctx.session
  ctx.session = rest
}

type FlowKind = NonNullable<BotContext["session"]["flow"]>["kind"]

/**
 * The text step of a flow in a private chat: `/cancel` ends it (answered with `cancelled`), another command or a
 * menu button leaves it and is handled as such, anything else is the flow's `answer` (trimmed). Messages of
 * chats not in this flow pass on.
 */
export const onFlowAnswer = (
  composer: Composer<BotContext>,
  kind: FlowKind,
  cancelled: (t: Texts) => string,
  answer: (ctx: BotContext, text: string, attempts: number) => Promise<void>
) =>
  composer.chatType("private").on("message:text", async (ctx, next) => {
    const flow = ctx.session.flow
    if (flow?.kind !== kind) return next()
    const text = ctx.message.text.trim()
    if (text === "/cancel") {
      endFlow(ctx)
      await ctx.reply(cancelled(ctx.t), { reply_markup: menuFor(ctx) })
      return
    }
    if (leavesFlow(text)) {
      endFlow(ctx)
      return next()
    }
    await answer(ctx, text, flow.attempts)
  })

/** The platform's texts are the platform's: bounded here so a message stays within Telegram's 4096 characters. */
export { clip } from "../domain/Text.ts"

/** The main menu for this chat (in `texts`, default the chat's): with the Mini App button in private chats. */
export const menuFor = (ctx: BotContext, t: Texts = ctx.t) =>
  mainMenu(t, ctx.chat?.type === "private" ? ctx.deps.appUrl : undefined)
