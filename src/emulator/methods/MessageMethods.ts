/**
 * Text messages: sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage and
 * sendChatAction, with Telegram's checks and descriptions (empty or too long text, unknown or
 * unchanged message, bad markup) and Telegram's result shapes.
 */
import { Effect, Schema } from "effect"
import { badRequest } from "../BotApiError.ts"
import { Chats } from "../Chats.ts"
import { ChatIdParam, decodeParams, IntParam, JsonObjectParam, StringParam } from "../params/Params.ts"
import { echoedMarkup, validateReplyMarkup } from "../params/ReplyMarkup.ts"
import { maxTextLength, renderText } from "../params/Text.ts"
import { PreciseNow, unixSeconds } from "../PreciseTime.ts"
import type { Message } from "../TelegramTypes.ts"
import { type Method, reply } from "./Method.ts"
import { Sending } from "./Sending.ts"

const chatDescriptions = { chat_id: "chat_id is empty" }

const decodeSend = decodeParams(
  Schema.Struct({
    chat_id: ChatIdParam,
    text: StringParam,
    parse_mode: Schema.optionalKey(Schema.String),
    reply_markup: Schema.optionalKey(JsonObjectParam)
  }),
  { ...chatDescriptions, text: "message text is empty", reply_markup: "can't parse reply keyboard markup JSON object" }
)

const decodeEditText = decodeParams(
  Schema.Struct({
    chat_id: Schema.optionalKey(ChatIdParam),
    message_id: Schema.optionalKey(IntParam),
    inline_message_id: Schema.optionalKey(Schema.String),
    text: StringParam,
    parse_mode: Schema.optionalKey(Schema.String),
    reply_markup: Schema.optionalKey(JsonObjectParam)
  }),
  { text: "message text is empty", reply_markup: "can't parse reply keyboard markup JSON object" }
)

const decodeEditMarkup = decodeParams(
  Schema.Struct({
    chat_id: Schema.optionalKey(ChatIdParam),
    message_id: Schema.optionalKey(IntParam),
    inline_message_id: Schema.optionalKey(Schema.String),
    reply_markup: Schema.optionalKey(JsonObjectParam)
  }),
  { reply_markup: "can't parse reply keyboard markup JSON object" }
)

const decodeDelete = decodeParams(
  Schema.Struct({ chat_id: ChatIdParam, message_id: IntParam }),
  { ...chatDescriptions, message_id: "message identifier is not specified" }
)

const chatActions = [
  "typing",
  "upload_photo",
  "record_video",
  "upload_video",
  "record_voice",
  "upload_voice",
  "upload_document",
  "choose_sticker",
  "find_location",
  "record_video_note",
  "upload_video_note"
]

const decodeAction = decodeParams(
  Schema.Struct({ chat_id: ChatIdParam, action: Schema.String }),
  { ...chatDescriptions, action: "wrong parameter action in request" }
)

const notModified =
  "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"

/** Checks the text of a new or edited message and returns it as rendered. */
const checkText = (text: string, parseMode: string | undefined) => {
  const rendered = renderText(text, parseMode)
  if (rendered.trim().length === 0) return Effect.fail(badRequest("message text is empty"))
  if (rendered.length > maxTextLength) return Effect.fail(badRequest("message is too long"))
  return Effect.succeed(rendered)
}

const checkMarkup = (markup: Readonly<Record<string, unknown>> | undefined) =>
  markup === undefined ? Effect.void : validateReplyMarkup(markup)

export const make = Effect.gen(function*() {
  const sending = yield* Sending
  const chats = yield* Chats
  const now = yield* PreciseNow

  /** The bot's message an edit names, after the chat checks. */
  const editable = Effect.fn("MessageMethods.editable")(function*(
    botId: number,
    chatId: number | string | undefined,
    messageId: number | undefined
  ) {
    if (chatId === undefined) return yield* badRequest("chat_id is empty")
    if (messageId === undefined) return yield* badRequest("message identifier is not specified")
    const chat = yield* sending.target(chatId)
    const message = chats.findMessage(botId, chat.id, messageId)
    if (message === undefined) return yield* badRequest("message to edit not found")
    if (message.from?.id !== botId) return yield* badRequest("message can't be edited")
    return message
  })

  const sendMessage: Method = {
    name: "sendMessage",
    sending: true,
    run: Effect.fn("sendMessage")(function*(call) {
      const params = yield* decodeSend(call.params)
      const text = yield* checkText(params.text, params.parse_mode)
      yield* checkMarkup(params.reply_markup)
      const chat = yield* sending.target(params.chat_id)
      yield* sending.admit(call, chat.id)
      const message: Message = {
        message_id: chats.nextMessageId(call.bot.id, chat.id),
        from: call.bot.user,
        chat,
        date: unixSeconds(call.receivedAt),
        text,
        ...echoedMarkup(params.reply_markup)
      }
      chats.storeMessage(call.bot.id, message)
      sending.log(call, { chatId: chat.id, messageId: message.message_id, text: params.text, replyMarkup: params.reply_markup })
      return reply(message)
    })
  }

  const editMessageText: Method = {
    name: "editMessageText",
    sending: true,
    run: Effect.fn("editMessageText")(function*(call) {
      const params = yield* decodeEditText(call.params)
      const text = yield* checkText(params.text, params.parse_mode)
      yield* checkMarkup(params.reply_markup)
      if (params.inline_message_id !== undefined) {
        yield* sending.admit(call, null)
        return reply(true)
      }
      const message = yield* editable(call.bot.id, params.chat_id, params.message_id)
      if (message.text === undefined) return yield* badRequest("there is no text in the message to edit")
      const markup = echoedMarkup(params.reply_markup)
      if (message.text === text && sameJson(message.reply_markup, markup.reply_markup)) {
        return yield* badRequest(notModified)
      }
      yield* sending.admit(call, message.chat.id)
      const { reply_markup: _, ...rest } = message
      const edited: Message = { ...rest, text, edit_date: unixSeconds(now()), ...markup }
      chats.storeMessage(call.bot.id, edited)
      sending.log(call, {
        chatId: edited.chat.id,
        messageId: edited.message_id,
        text: params.text,
        replyMarkup: params.reply_markup
      })
      return reply(edited)
    })
  }

  const editMessageReplyMarkup: Method = {
    name: "editMessageReplyMarkup",
    sending: true,
    run: Effect.fn("editMessageReplyMarkup")(function*(call) {
      const params = yield* decodeEditMarkup(call.params)
      yield* checkMarkup(params.reply_markup)
      if (params.inline_message_id !== undefined) {
        yield* sending.admit(call, null)
        return reply(true)
      }
      const message = yield* editable(call.bot.id, params.chat_id, params.message_id)
      const markup = echoedMarkup(params.reply_markup)
      if (sameJson(message.reply_markup, markup.reply_markup)) return yield* badRequest(notModified)
      yield* sending.admit(call, message.chat.id)
      const { reply_markup: _, ...rest } = message
      const edited: Message = { ...rest, edit_date: unixSeconds(now()), ...markup }
      chats.storeMessage(call.bot.id, edited)
      sending.log(call, {
        chatId: edited.chat.id,
        messageId: edited.message_id,
        text: edited.text ?? edited.caption,
        replyMarkup: params.reply_markup
      })
      return reply(edited)
    })
  }

  const deleteMessage: Method = {
    name: "deleteMessage",
    sending: false,
    run: Effect.fn("deleteMessage")(function*(call) {
      const params = yield* decodeDelete(call.params)
      const chat = yield* sending.target(params.chat_id)
      if (!chats.deleteMessage(call.bot.id, chat.id, params.message_id)) {
        return yield* badRequest("message to delete not found")
      }
      sending.log(call, { chatId: chat.id, messageId: params.message_id })
      return reply(true)
    })
  }

  const sendChatAction: Method = {
    name: "sendChatAction",
    sending: false,
    run: Effect.fn("sendChatAction")(function*(call) {
      const params = yield* decodeAction(call.params)
      if (!chatActions.includes(params.action)) return yield* badRequest("wrong parameter action in request")
      yield* sending.target(params.chat_id)
      return reply(true)
    })
  }

  return [sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage, sendChatAction]
})

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
