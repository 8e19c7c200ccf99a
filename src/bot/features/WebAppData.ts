/**
 * Data the Mini App sends with `WebApp.sendData()` (it arrives as a `web_app_data` message from the user): decoded
 * with Schema, acted on, confirmed in the chat. Version 1 knows one message: the notification settings,
 * `{"v":1,"type":"consents","promotions"?,"tournaments"?,"payouts"?}`. Anything else gets a friendly answer.
 */
import { Option, Schema } from "effect"
import { Composer } from "../Composer.ts"
import type { BotContext } from "../BotContext.ts"
import { menuFor } from "../Flow.ts"

const ConsentsData = Schema.Struct({
  v: Schema.Literal(1),
  type: Schema.Literal("consents"),
  promotions: Schema.optional(Schema.Boolean),
  tournaments: Schema.optional(Schema.Boolean),
  payouts: Schema.optional(Schema.Boolean)
})

/** At most 4096 bytes arrive (Telegram's limit for `sendData`); unknown fields are refused. */
const decode = Schema.decodeUnknownOption(Schema.fromJsonString(ConsentsData), { onExcessProperty: "error" })

export const webAppData = new Composer<BotContext>()

webAppData.chatType("private").on("message:web_app_data", async (ctx) => {
  const data = decode(ctx.message.web_app_data.data)
  if (Option.isNone(data)) {
    await ctx.reply(ctx.t.webAppInvalid, { reply_markup: menuFor(ctx) })
    return
  }
  const { v: _, type: __, ...changes } = data.value
  await ctx.deps.setConsents(changes)
  await ctx.reply(ctx.t.webAppSaved, { reply_markup: menuFor(ctx) })
})
