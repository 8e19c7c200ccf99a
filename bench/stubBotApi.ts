/**
 * A minimal Bot API stub for the e2e benchmark: bare Node `http`, answers every method with a plausible `ok`
 * result and records when each `sendMessage` arrived (wall clock, sub-millisecond). The full emulator
 * (`src/emulator`) checks limits and keeps rich logs; here the Bot API side should cost as little as possible.
 */
import * as Http from "node:http"

const received: Array<{ chatId: number; at: number }> = []
let messageId = 0
const bot = { id: 7000000001, is_bot: true, first_name: "Stub Bot", username: "stub_bot" }

Http.createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    const at = performance.timeOrigin + performance.now()
    if (request.url === "/_stub/messages") {
      response.writeHead(200, { "content-type": "application/json" })
      return void response.end(JSON.stringify(received))
    }
    if (request.url === "/_stub/health") return void response.end("ok")
    const method = request.url?.split("/").pop() ?? ""
    const params = chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>
    let result: unknown = true
    if (method === "getMe") result = bot
    else if (method === "sendMessage") {
      const chatId = Number(params["chat_id"])
      received.push({ chatId, at })
      result = { message_id: ++messageId, date: Math.floor(at / 1000), chat: { id: chatId, type: "private" }, from: bot, text: params["text"] }
    }
    response.writeHead(200, { "content-type": "application/json" })
    response.end(JSON.stringify({ ok: true, result }))
  })
}).listen(Number(process.env.PORT), "127.0.0.1")
