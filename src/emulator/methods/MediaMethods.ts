/**
 * Media messages: sendPhoto and sendDocument. The file is a multipart upload (stored, so getFile
 * and the download route serve it), `attach://<part>`, a known `file_id`, or an HTTP URL (taken
 * as is, never fetched). Captions are limited to 1024 characters after entity parsing.
 */
import { Effect, Schema } from "effect"
import { badRequest, type BotApiError } from "../BotApiError.ts"
import { Chats } from "../Chats.ts"
import { Files, type StoredFile } from "../Files.ts"
import { ChatIdParam, decodeParams, JsonObjectParam, StringParam } from "../params/Params.ts"
import { echoedMarkup, validateReplyMarkup } from "../params/ReplyMarkup.ts"
import { maxCaptionLength, renderText } from "../params/Text.ts"
import { unixSeconds } from "../PreciseTime.ts"
import type { Message } from "../TelegramTypes.ts"
import { type Call, type Method, reply } from "./Method.ts"
import { Sending } from "./Sending.ts"

const decodeMedia = decodeParams(
  Schema.Struct({
    chat_id: ChatIdParam,
    photo: Schema.optionalKey(Schema.String),
    document: Schema.optionalKey(Schema.String),
    caption: Schema.optionalKey(StringParam),
    parse_mode: Schema.optionalKey(Schema.String),
    reply_markup: Schema.optionalKey(JsonObjectParam)
  }),
  { chat_id: "chat_id is empty", reply_markup: "can't parse reply keyboard markup JSON object" }
)

export const make = Effect.gen(function*() {
  const sending = yield* Sending
  const chats = yield* Chats
  const files = yield* Files

  /** The file a media parameter names, registering uploads and URLs. */
  const resolveFile = (call: Call, field: string, value: string | undefined, kind: "photos" | "documents") =>
    Effect.suspend((): Effect.Effect<StoredFile, BotApiError> => {
      const partName = value === undefined ? field : value.startsWith("attach://") ? value.slice(9) : undefined
      const upload = partName === undefined ? undefined : call.uploads.get(partName)
      if (upload !== undefined) {
        return Effect.succeed(files.register({
          content: upload.content,
          mimeType: upload.contentType,
          fileName: upload.fileName,
          directory: kind
        }))
      }
      if (value === undefined || value.length === 0 || partName !== undefined) {
        return Effect.fail(badRequest(`there is no ${field} in the request`))
      }
      const known = files.byId(value)
      if (known !== undefined) return Effect.succeed(known)
      if (/^https?:\/\//.test(value)) {
        const name = value.split("/").pop()?.split("?")[0] ?? "file"
        return Effect.succeed(files.register({ content: new Uint8Array(), fileName: name, directory: kind }))
      }
      return Effect.fail(badRequest("wrong file identifier/HTTP URL specified"))
    })

  const sendMedia = (name: string, field: "photo" | "document"): Method => {
    return {
      name,
      sending: true,
      run: Effect.fn(name)(function*(call) {
        const params = yield* decodeMedia(call.params)
        const caption = params.caption === undefined ? undefined : renderText(params.caption, params.parse_mode)
        if (caption !== undefined && caption.length > maxCaptionLength) {
          return yield* badRequest("message caption is too long")
        }
        if (params.reply_markup !== undefined) yield* validateReplyMarkup(params.reply_markup)
        const chat = yield* sending.target(params.chat_id)
        const file = yield* resolveFile(call, field, params[field], field === "photo" ? "photos" : "documents")
        yield* sending.admit(call, chat.id)
        const media = field === "photo"
          ? {
            photo: [{
              file_id: file.file_id,
              file_unique_id: file.file_unique_id,
              width: 0,
              height: 0,
              file_size: file.file_size
            }]
          }
          : {
            document: {
              file_id: file.file_id,
              file_unique_id: file.file_unique_id,
              file_size: file.file_size,
              mime_type: file.mimeType,
              ...(file.fileName === undefined ? {} : { file_name: file.fileName })
            }
          }
        const message: Message = {
          message_id: chats.nextMessageId(call.bot.id, chat.id),
          from: call.bot.user,
          chat,
          date: unixSeconds(call.receivedAt),
          ...media,
          ...(caption === undefined ? {} : { caption }),
          ...echoedMarkup(params.reply_markup)
        }
        chats.storeMessage(call.bot.id, message)
        sending.log(call, {
          chatId: chat.id,
          messageId: message.message_id,
          text: params.caption,
          replyMarkup: params.reply_markup
        })
        return reply(message)
      })
    }
  }

  return [sendMedia("sendPhoto", "photo"), sendMedia("sendDocument", "document")]
})
