/**
 * Methods about the bot itself and small requests: getMe, setMyCommands, getMyCommands,
 * deleteMyCommands, getChat and getFile.
 */
import { Effect, Schema } from "effect"
import { badRequest, BotApiError } from "../BotApiError.ts"
import { Bots } from "../Bots.ts"
import { Chats } from "../Chats.ts"
import { Files, toTelegramFile } from "../Files.ts"
import { ChatIdParam, decodeParams, JsonObjectParam, JsonParam } from "../params/Params.ts"
import { type Method, reply } from "./Method.ts"

const BotCommand = Schema.Struct({ command: Schema.String, description: Schema.String })

const scopeFields = {
  scope: Schema.optionalKey(JsonObjectParam),
  language_code: Schema.optionalKey(Schema.String)
}

const decodeSetCommands = decodeParams(
  Schema.Struct({ commands: JsonParam(Schema.Array(BotCommand)), ...scopeFields }),
  { commands: "BOT_COMMANDS_TOO_MUCH" }
)

const decodeScope = decodeParams(Schema.Struct(scopeFields))

const decodeGetChat = decodeParams(Schema.Struct({ chat_id: ChatIdParam }), { chat_id: "chat_id is empty" })

const decodeGetFile = decodeParams(Schema.Struct({ file_id: Schema.String }), { file_id: "invalid file_id" })

const scopeKey = (scope: unknown, languageCode: string | undefined) =>
  `${JSON.stringify(scope ?? { type: "default" })}|${languageCode ?? ""}`

export const make = Effect.gen(function*() {
  const bots = yield* Bots
  const chats = yield* Chats
  const files = yield* Files

  const getMe: Method = {
    name: "getMe",
    sending: false,
    run: (call) => Effect.succeed(reply(call.bot.user))
  }

  const setMyCommands: Method = {
    name: "setMyCommands",
    sending: false,
    run: Effect.fn("setMyCommands")(function*(call) {
      const params = yield* decodeSetCommands(call.params)
      if (params.commands.length > 100) return yield* badRequest("BOT_COMMANDS_TOO_MUCH")
      for (const { command, description } of params.commands) {
        if (!/^[a-z0-9_]{1,32}$/.test(command)) return yield* badRequest("BOT_COMMAND_INVALID")
        if (description.length < 1 || description.length > 256) return yield* badRequest("BOT_COMMAND_DESCRIPTION_INVALID")
      }
      bots.setCommands(call.bot.id, scopeKey(params.scope, params.language_code), params.commands)
      return reply(true)
    })
  }

  const getMyCommands: Method = {
    name: "getMyCommands",
    sending: false,
    run: Effect.fn("getMyCommands")(function*(call) {
      const params = yield* decodeScope(call.params)
      return reply(bots.getCommands(call.bot.id, scopeKey(params.scope, params.language_code)))
    })
  }

  const deleteMyCommands: Method = {
    name: "deleteMyCommands",
    sending: false,
    run: Effect.fn("deleteMyCommands")(function*(call) {
      const params = yield* decodeScope(call.params)
      bots.setCommands(call.bot.id, scopeKey(params.scope, params.language_code), [])
      return reply(true)
    })
  }

  const getChat: Method = {
    name: "getChat",
    sending: false,
    run: Effect.fn("getChat")(function*(call) {
      const params = yield* decodeGetChat(call.params)
      const chat = chats.resolve(params.chat_id)
      if (chat instanceof BotApiError) return yield* chat
      return reply(chat)
    })
  }

  const getFile: Method = {
    name: "getFile",
    sending: false,
    run: Effect.fn("getFile")(function*(call) {
      const params = yield* decodeGetFile(call.params)
      const file = files.byId(params.file_id)
      if (file === undefined) return yield* badRequest("invalid file_id")
      return reply(toTelegramFile(file))
    })
  }

  return [getMe, setMyCommands, getMyCommands, deleteMyCommands, getChat, getFile]
})
