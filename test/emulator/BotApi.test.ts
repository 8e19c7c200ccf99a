/**
 * The Bot API surface over real HTTP: envelopes, result shapes, parameter encodings, and the
 * errors Telegram answers with (401, 404, 400 descriptions, 403 for blocked and deactivated users).
 */
import { assert, describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Emulator } from "../../src/emulator/Emulator.ts"
import type { Message } from "../../src/emulator/TelegramTypes.ts"
import { botCall, type Encoding, resultOf } from "./helpers.ts"

layer(Emulator.layer({ botUsername: "gateway_test_bot" }), { excludeTestServices: true })("Bot API", (it) => {
  const call = (method: string, params?: Readonly<Record<string, unknown>>, encoding?: Encoding) =>
    Effect.flatMap(Emulator, (emulator) => botCall(emulator.url, emulator.token, method, params, encoding === undefined ? {} : { encoding }))

  it.effect("getMe answers the bot user derived from the token, in Telegram's envelope", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const response = yield* call("getMe")
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toContain("application/json")
      expect(response.body).toEqual({
        ok: true,
        result: {
          id: emulator.botId,
          is_bot: true,
          first_name: "Emulator Bot",
          username: "gateway_test_bot",
          can_join_groups: true,
          can_read_all_group_messages: false,
          supports_inline_queries: false
        }
      })
    }))

  it.effect("sendMessage returns a Message with per-chat increasing ids, in every encoding", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const encodings: ReadonlyArray<Encoding> = ["json", "form", "query", "multipart"]
      const markup = { inline_keyboard: [[{ text: "Open", callback_data: "open:1" }]] }
      const messages: Array<Message> = []
      for (const encoding of encodings) {
        messages.push(resultOf<Message>(yield* call("sendMessage", { chat_id: 501, text: `via ${encoding}`, reply_markup: markup }, encoding)))
      }
      expect(messages.map((m) => m.message_id)).toEqual([1, 2, 3, 4])
      expect(messages.map((m) => m.text)).toEqual(encodings.map((e) => `via ${e}`))
      for (const message of messages) {
        expect(message.chat).toEqual({ id: 501, type: "private", first_name: "User 501" })
        expect(message.from?.id).toBe(emulator.botId)
        expect(message.reply_markup).toEqual(markup)
        expect(Math.abs(message.date - Date.now() / 1000)).toBeLessThan(5)
      }
      const other = resultOf<Message>(yield* call("sendMessage", { chat_id: -502, text: "group" }))
      expect(other.message_id).toBe(1)
      expect(other.chat).toEqual({ id: -502, type: "group", title: "Chat -502" })

      const log = yield* emulator.messages(501)
      expect(log.map((entry) => [entry.method, entry.message_id, entry.text])).toEqual(
        encodings.map((e, i) => ["sendMessage", i + 1, `via ${e}`])
      )
      expect(log[0]!.reply_markup).toEqual(markup)
      expect(log[1]!.params).toMatchObject({ chat_id: "501", text: "via form" })
      expect(log[0]!.receivedAt % 1).not.toBe(0)
      expect(Math.abs(log[0]!.receivedAt - Date.now())).toBeLessThan(5_000)
    }))

  it.effect("answers 401 for an unknown token and 404 for an unknown method or path", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      const unauthorized = yield* botCall(emulator.url, "42:short", "getMe")
      expect(unauthorized.status).toBe(401)
      expect(unauthorized.body).toEqual({ ok: false, error_code: 401, description: "Unauthorized" })
      const unknownMethod = yield* call("sendTelepathy", { chat_id: 1 })
      expect(unknownMethod.status).toBe(404)
      expect(unknownMethod.body).toEqual({ ok: false, error_code: 404, description: "Not Found" })
      const unknownPath = yield* Effect.promise(() => fetch(`${emulator.url}/nothing/here`))
      expect(unknownPath.status).toBe(404)
      expect(yield* Effect.promise(() => unknownPath.json())).toEqual({ ok: false, error_code: 404, description: "Not Found" })
    }))

  it.effect("accepts any well-formed token and derives the bot id from it", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      const wellFormed = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
      const response = yield* botCall(emulator.url, wellFormed, "getMe")
      expect(resultOf<{ id: number }>(response).id).toBe(123456)
    }))

  it.effect("rejects empty, too long and badly marked-up messages with Telegram's descriptions", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const cases: ReadonlyArray<readonly [Readonly<Record<string, unknown>>, string]> = [
        [{ chat_id: 7, text: "x".repeat(4097) }, "Bad Request: message is too long"],
        [{ chat_id: 7, text: "" }, "Bad Request: message text is empty"],
        [{ chat_id: 7, text: "   " }, "Bad Request: message text is empty"],
        [{ chat_id: 7 }, "Bad Request: message text is empty"],
        [{ text: "hi" }, "Bad Request: chat_id is empty"],
        [{ chat_id: "@nobody", text: "hi" }, "Bad Request: chat not found"],
        [
          { chat_id: 7, text: "hi", reply_markup: { inline_keyboard: [[{ text: "b", callback_data: "é".repeat(33) }]] } },
          "Bad Request: BUTTON_DATA_INVALID"
        ],
        [{ chat_id: 7, text: "hi", reply_markup: "{not json" }, "Bad Request: can't parse reply keyboard markup JSON object"]
      ]
      for (const [params, description] of cases) {
        const response = yield* call("sendMessage", params)
        expect(response.status, description).toBe(400)
        expect(response.body).toEqual({ ok: false, error_code: 400, description })
      }
      const exactly = yield* call("sendMessage", { chat_id: 7, text: "y".repeat(4096) })
      expect(exactly.status).toBe(200)
      const html = yield* call("sendMessage", { chat_id: 7, text: `<b>${"z".repeat(4096)}</b>`, parse_mode: "HTML" })
      expect(resultOf<Message>(html).text).toBe("z".repeat(4096))
      const data64 = yield* call("sendMessage", {
        chat_id: 7,
        text: "ok",
        reply_markup: { inline_keyboard: [[{ text: "b", callback_data: "d".repeat(64) }]] }
      })
      expect(data64.status).toBe(200)
      expect(yield* emulator.messages(7)).toHaveLength(3)
    }))

  it.effect("answers 403 for blocked and deactivated users, and resolves registered usernames", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      yield* emulator.blockUsers([11])
      yield* emulator.deactivateUsers([12])
      yield* emulator.registerChat({ id: -1001234567890, type: "channel", username: "news", title: "News" })
      const blocked = yield* call("sendMessage", { chat_id: 11, text: "hi" })
      expect(blocked.status).toBe(403)
      expect(blocked.body).toEqual({ ok: false, error_code: 403, description: "Forbidden: bot was blocked by the user" })
      const deactivated = yield* call("sendMessage", { chat_id: 12, text: "hi" })
      expect(deactivated.body).toEqual({ ok: false, error_code: 403, description: "Forbidden: user is deactivated" })
      const channel = resultOf<Message>(yield* call("sendMessage", { chat_id: "@news", text: "post" }))
      expect(channel.chat).toEqual({ id: -1001234567890, type: "channel", title: "News", username: "news" })
      yield* emulator.setChatState([11], "active")
      expect((yield* call("sendMessage", { chat_id: 11, text: "again" })).status).toBe(200)
      const counters = yield* emulator.counters
      expect(counters.errorsByCode["403"]).toBe(2)
    }))

  it.effect("edits text and markup, refuses unchanged edits, and deletes messages", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const sent = resultOf<Message>(yield* call("sendMessage", { chat_id: 20, text: "v1" }))
      const edited = resultOf<Message>(yield* call("editMessageText", { chat_id: 20, message_id: sent.message_id, text: "v2" }))
      expect(edited).toMatchObject({ message_id: sent.message_id, text: "v2" })
      expect(edited.edit_date).toBeTypeOf("number")
      const same = yield* call("editMessageText", { chat_id: 20, message_id: sent.message_id, text: "v2" })
      expect(same.body.description).toMatch(/^Bad Request: message is not modified/)
      const markup = { inline_keyboard: [[{ text: "Go", url: "https://example.com" }]] }
      const withMarkup = resultOf<Message>(
        yield* call("editMessageReplyMarkup", { chat_id: 20, message_id: sent.message_id, reply_markup: markup })
      )
      expect(withMarkup.reply_markup).toEqual(markup)
      const missing = yield* call("editMessageText", { chat_id: 20, message_id: 999, text: "x" })
      expect(missing.body).toEqual({ ok: false, error_code: 400, description: "Bad Request: message to edit not found" })
      expect(resultOf<boolean>(yield* call("deleteMessage", { chat_id: 20, message_id: sent.message_id }))).toBe(true)
      const gone = yield* call("deleteMessage", { chat_id: 20, message_id: sent.message_id })
      expect(gone.body.description).toBe("Bad Request: message to delete not found")
      const log = yield* emulator.messages(20)
      expect(log.map((entry) => entry.method)).toEqual(["sendMessage", "editMessageText", "editMessageReplyMarkup", "deleteMessage"])
      expect(resultOf<boolean>(yield* call("sendChatAction", { chat_id: 20, action: "typing" }))).toBe(true)
      expect((yield* call("sendChatAction", { chat_id: 20, action: "dancing" })).status).toBe(400)
    }))

  it.effect("answerCallbackQuery accepts a delivered query once, with text up to 200 characters", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      yield* emulator.injectUpdate({ callback_query: { id: "q1", from: { id: 5, is_bot: false, first_name: "A" }, data: "x" } })
      const tooLong = yield* call("answerCallbackQuery", { callback_query_id: "q1", text: "t".repeat(201) })
      expect(tooLong.status).toBe(400)
      expect(resultOf<boolean>(yield* call("answerCallbackQuery", { callback_query_id: "q1", text: "t".repeat(200) }))).toBe(true)
      const twice = yield* call("answerCallbackQuery", { callback_query_id: "q1" })
      expect(twice.body.description).toBe("Bad Request: query is too old and response timeout expired or query ID is invalid")
    }))

  it.effect("stores commands per scope and serves registered and uploaded files", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator
      yield* emulator.reset
      const commands = [{ command: "start", description: "Start" }, { command: "help", description: "Help" }]
      expect(resultOf<boolean>(yield* call("setMyCommands", { commands }))).toBe(true)
      expect(resultOf<unknown>(yield* call("getMyCommands"))).toEqual(commands)
      expect(resultOf<unknown>(yield* call("getMyCommands", { language_code: "it" }))).toEqual([])
      const invalid = yield* call("setMyCommands", { commands: [{ command: "Bad Command", description: "x" }] })
      expect(invalid.body.description).toBe("Bad Request: BOT_COMMAND_INVALID")

      const stored = yield* emulator.registerFile({ content: "hello file", fileName: "a.txt", mimeType: "text/plain" })
      const file = resultOf<{ file_path: string; file_size: number }>(yield* call("getFile", { file_id: stored.file_id }))
      expect(file).toEqual({ file_id: stored.file_id, file_unique_id: stored.file_unique_id, file_size: 10, file_path: "documents/file_1.txt" })
      const download = yield* Effect.promise(() => fetch(`${emulator.url}/file/bot${emulator.token}/${file.file_path}`))
      expect(download.status).toBe(200)
      expect(yield* Effect.promise(() => download.text())).toBe("hello file")
      expect((yield* call("getFile", { file_id: "nope" })).body.description).toBe("Bad Request: invalid file_id")

      const photo = yield* Effect.flatMap(Emulator, (e) =>
        botCall(e.url, e.token, "sendPhoto", { chat_id: 30, caption: "pic" }, {
          encoding: "multipart",
          files: { photo: { name: "cat.jpg", content: "jpeg-bytes" } }
        }))
      const message = resultOf<Message>(photo)
      expect(message.caption).toBe("pic")
      const uploaded = resultOf<{ file_path: string }>(yield* call("getFile", { file_id: message.photo![0]!.file_id }))
      const bytes = yield* Effect.promise(() =>
        fetch(`${emulator.url}/file/bot${emulator.token}/${uploaded.file_path}`).then((r) => r.text())
      )
      assert.strictEqual(bytes, "jpeg-bytes")
      const entry = (yield* emulator.messages(30))[0]!
      expect(entry.params["photo"]).toEqual({ file: "cat.jpg", size: 10 })
    }))
})

describe("token list", () => {
  layer(Emulator.layer({ tokens: ["111:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] }), { excludeTestServices: true })((it) => {
    it.effect("rejects well-formed tokens outside the list", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        expect(emulator.token).toBe("111:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        expect((yield* botCall(emulator.url, emulator.token, "getMe")).status).toBe(200)
        expect((yield* botCall(emulator.url, "222:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "getMe")).status).toBe(401)
      }))
  })
})
