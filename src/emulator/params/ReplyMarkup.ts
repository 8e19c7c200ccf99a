/**
 * `reply_markup` validation. The markup arrives as an object or a JSON string; it must be one of
 * Telegram's four keyboard kinds, an inline button needs exactly one action, and `callback_data`
 * is 1-64 bytes (else `BUTTON_DATA_INVALID`). The caller keeps the markup as given, so answers
 * and logs show exactly what the client sent.
 */
import { Effect, Result, Schema } from "effect"
import { badRequest, type BotApiError } from "../BotApiError.ts"

const InlineKeyboardButton = Schema.Struct({
  text: Schema.String,
  callback_data: Schema.optionalKey(Schema.String)
})

const InlineKeyboardMarkup = Schema.Struct({
  inline_keyboard: Schema.Array(Schema.Array(Schema.Record(Schema.String, Schema.Unknown)))
})

const KeyboardButton = Schema.Union([Schema.String, Schema.Struct({ text: Schema.String })])

const ReplyMarkup = Schema.Union([
  InlineKeyboardMarkup,
  Schema.Struct({ keyboard: Schema.Array(Schema.Array(KeyboardButton)) }),
  Schema.Struct({ remove_keyboard: Schema.Literal(true) }),
  Schema.Struct({ force_reply: Schema.Literal(true) })
])

const decodeMarkup = Schema.decodeUnknownResult(ReplyMarkup)
const decodeButton = Schema.decodeUnknownResult(InlineKeyboardButton)

/** Inline button fields that make a button do something; exactly one is required. */
const actions = [
  "url",
  "callback_data",
  "web_app",
  "login_url",
  "switch_inline_query",
  "switch_inline_query_current_chat",
  "switch_inline_query_chosen_chat",
  "copy_text",
  "callback_game",
  "pay"
]

const encoder = new TextEncoder()

export const validateReplyMarkup = (markup: Readonly<Record<string, unknown>>): Effect.Effect<void, BotApiError> => {
  if (Result.isFailure(decodeMarkup(markup))) {
    return Effect.fail(badRequest("can't parse reply keyboard markup JSON object"))
  }
  const rows = markup["inline_keyboard"]
  if (!Array.isArray(rows)) return Effect.void
  for (const row of rows as ReadonlyArray<ReadonlyArray<Readonly<Record<string, unknown>>>>) {
    for (const raw of row) {
      const button = decodeButton(raw)
      if (Result.isFailure(button)) return Effect.fail(badRequest("can't parse inline keyboard button: Field \"text\" must be of type String"))
      const present = actions.filter((action) => raw[action] !== undefined)
      if (present.length === 0) {
        return Effect.fail(badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"))
      }
      const data = button.success.callback_data
      if (data !== undefined && (data.length === 0 || encoder.encode(data).byteLength > 64)) {
        return Effect.fail(badRequest("BUTTON_DATA_INVALID"))
      }
    }
  }
  return Effect.void
}

/** What a sent message echoes back: Telegram returns only inline keyboards. */
export const echoedMarkup = (markup: Readonly<Record<string, unknown>> | undefined) =>
  markup !== undefined && Array.isArray(markup["inline_keyboard"]) ? { reply_markup: markup } : {}
