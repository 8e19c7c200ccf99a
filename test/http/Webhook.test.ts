/**
 * `POST /telegram/webhook` on bad input: wrong or missing secret, malformed JSON, bodies that are not updates,
 * a 2 MiB body. Each gets a clear 4xx in the contract's error shape, nothing is queued, and the server stays
 * up. A duplicate `update_id` answers 200, is counted and is not queued again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Http from "node:http"
import { secretMatches } from "../../src/http/Webhook.ts"
import { gatewayEnv, redisClient, testDatabase, testPrefix } from "../support/Infra.ts"
import { startGateway } from "../support/Gateway.ts"
import { messageUpdate, post, streamLength } from "../support/Updates.ts"

const setup = Effect.gen(function*() {
  const prefix = yield* testPrefix("t-webhook")
  const databaseUrl = yield* testDatabase
  const { url } = yield* startGateway({ env: gatewayEnv({ prefix, databaseUrl }) })
  const client = yield* redisClient()
  const queued = streamLength(client, prefix, 8)
  return { url, queued, client, prefix }
})

const errorCode = (body: string) => (JSON.parse(body) as { error: { code: string; message: string } }).error.code

describe("webhook", () => {
  it.live("rejects a wrong or missing secret with 401 and queues nothing", () =>
    Effect.gen(function*() {
      const { url, queued } = yield* setup
      const wrong = yield* post(url, messageUpdate(1, 42), "not-the-secret")
      assert.strictEqual(wrong.status, 401)
      assert.strictEqual(errorCode(wrong.body), "invalid_secret")
      const missing = yield* Effect.promise(() =>
        fetch(`${url}/telegram/webhook`, { method: "POST", body: JSON.stringify(messageUpdate(2, 42)) })
      )
      assert.strictEqual(missing.status, 401)
      assert.strictEqual(yield* queued, 0)
    }))

  it.live("answers 400 to malformed JSON and to bodies without an integer update_id", () =>
    Effect.gen(function*() {
      const { url, queued } = yield* setup
      const malformed = yield* post(url, "{\"update_id\": 1,")
      assert.strictEqual(malformed.status, 400)
      assert.strictEqual(errorCode(malformed.body), "malformed_json")
      for (const body of [{}, { update_id: "7" }, { update_id: 1.5 }, { update_id: -3 }, [1, 2], "null"]) {
        const answer = yield* post(url, typeof body === "string" ? body : JSON.stringify(body))
        assert.strictEqual(answer.status, 400, JSON.stringify(body))
        assert.strictEqual(errorCode(answer.body), "not_an_update")
      }
      assert.strictEqual(yield* queued, 0)
    }))

  it.live("answers 413 to a 2 MiB body, whether sized or chunked, and stays up", () =>
    Effect.gen(function*() {
      const { url, queued } = yield* setup
      const huge = JSON.stringify({ ...messageUpdate(3, 42), padding: "x".repeat(2 * 1024 * 1024) })
      const sized = yield* post(url, huge)
      assert.strictEqual(sized.status, 413)
      assert.strictEqual(errorCode(sized.body), "body_too_large")
      const chunked = yield* Effect.promise(async () => {
        const bytes = new TextEncoder().encode(huge)
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.slice(i, i + 64 * 1024))
            controller.close()
          }
        })
        try {
          const response = await fetch(`${url}/telegram/webhook`, {
            method: "POST",
            headers: { "x-telegram-bot-api-secret-token": "test-secret" },
            body: stream,
            duplex: "half"
          } as RequestInit)
          return response.status
        } catch {
          return 0 // the server may close the connection once the limit is passed
        }
      })
      assert.include([413, 0], chunked)
      const health = yield* Effect.promise(() => fetch(`${url}/healthz`))
      assert.strictEqual(health.status, 200)
      const ready = yield* Effect.promise(() => fetch(`${url}/readyz`).then((r) => r.json()))
      assert.deepStrictEqual(ready, { status: "ready", redis: "ok", postgres: "ok" })
      assert.strictEqual(yield* queued, 0)
      assert.strictEqual((yield* post(url, messageUpdate(4, 42))).status, 200)
    }))

  it.live("queues an update once: a duplicate answers 200 and is counted", () =>
    Effect.gen(function*() {
      const { url, queued, client, prefix } = yield* setup
      assert.strictEqual((yield* post(url, messageUpdate(10, 7))).status, 200)
      assert.strictEqual((yield* post(url, messageUpdate(10, 7))).status, 200)
      assert.strictEqual((yield* post(url, messageUpdate(10, 7))).status, 200)
      assert.strictEqual(yield* queued, 1)
      const metrics = yield* Effect.promise(() => fetch(`${url}/metrics`).then((r) => r.text()))
      assert.match(metrics, /tg_updates_deduplicated_total(\{[^}]*\})? 2\b/)
      assert.match(metrics, /tg_webhook_responses_total\{[^}]*code="200"[^}]*\} 3\b/)
      assert.match(metrics, /tg_webhook_latency_seconds_bucket/)
      // The queued entry carries the raw update and a W3C traceparent.
      const keys = yield* Effect.promise(() => client.keys(`${prefix}*:updates`))
      const entries = yield* Effect.promise(() => client.xrange(keys[0]!, "-", "+"))
      const fields = entries[0]![1]
      assert.deepStrictEqual(JSON.parse(fields[fields.indexOf("update") + 1]!), messageUpdate(10, 7))
      assert.match(fields[fields.indexOf("traceparent") + 1]!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
    }))

  it.live("keeps the caller's trace id in the queued traceparent, and accepts Expect: 100-continue", () =>
    Effect.gen(function*() {
      const { url, queued, client, prefix } = yield* setup
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
      const traced = yield* Effect.promise(() =>
        fetch(`${url}/telegram/webhook`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-telegram-bot-api-secret-token": "test-secret",
            traceparent: `00-${traceId}-00f067aa0ba902b7-01`
          },
          body: JSON.stringify(messageUpdate(20, 9))
        })
      )
      assert.strictEqual(traced.status, 200)
      const body = JSON.stringify(messageUpdate(21, 9))
      const continued = yield* Effect.promise(() =>
        new Promise<number>((resolve, reject) => {
          const request = Http.request(`${url}/telegram/webhook`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "content-length": Buffer.byteLength(body),
              "x-telegram-bot-api-secret-token": "test-secret",
              expect: "100-continue"
            }
          })
          request.on("continue", () => request.end(body))
          request.on("response", (response) => {
            response.resume()
            resolve(response.statusCode ?? 0)
          })
          request.on("error", reject)
        })
      )
      assert.strictEqual(continued, 200)
      assert.strictEqual(yield* queued, 2)
      const keys = yield* Effect.promise(() => client.keys(`${prefix}*:updates`))
      const entries = yield* Effect.promise(() => client.xrange(keys[0]!, "-", "+"))
      const traceparents = entries.map(([, fields]) => fields[fields.indexOf("traceparent") + 1]!)
      assert.match(traceparents[0]!, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))
      assert.notMatch(traceparents[0]!, /00f067aa0ba902b7/, "a span of its own, child of the caller's")
      assert.notInclude(traceparents[1]!, traceId)
    }))

  it("compares the secret in full: same length, other content, or a prefix, is refused", () => {
    const matches = secretMatches("test-secret")
    assert.isTrue(matches("test-secret"))
    for (const given of [undefined, "", "test-secreT", "test-secret ", "test-secre", "tëst-secret"]) {
      assert.isFalse(matches(given), String(given))
    }
  })
})
