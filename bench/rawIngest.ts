/**
 * A reference for the ingest benchmark: the same work as the gateway's webhook (read the body, check the
 * secret, parse the JSON, one EVALSHA of the same dedup + XADD script) on bare Node `http` + ioredis, without
 * Effect, validation, metrics or tracing. It shows what the machine allows for this work.
 */
import * as Http from "node:http"
import { Redis } from "ioredis"

const prefix = process.env.REDIS_PREFIX ?? "bench:raw:"
const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableAutoPipelining: true })
const sha = (await redis.script("LOAD", `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[2], '*', 'update', ARGV[2], 'traceparent', ARGV[3], 'chat', ARGV[4])
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return id`)) as string

Http.createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    if (request.method !== "POST") return void response.end("ok")
    if (request.headers["x-telegram-bot-api-secret-token"] !== process.env.WEBHOOK_SECRET) {
      response.writeHead(401)
      return void response.end()
    }
    const body = Buffer.concat(chunks).toString()
    const update = JSON.parse(body) as { update_id: number; message: { chat: { id: number } } }
    const chat = update.message.chat.id
    const p = chat % 16
    redis.evalsha(sha, 2, `${prefix}{p${p}}:seen:${update.update_id}`, `${prefix}{p${p}}:updates`, 90000, body, "", chat)
      .then(() => {
        response.writeHead(200)
        response.end()
      }, () => {
        response.writeHead(503)
        response.end()
      })
  })
}).listen(Number(process.env.PORT), "127.0.0.1")
