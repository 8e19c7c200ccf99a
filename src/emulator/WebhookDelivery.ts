/**
 * Webhook delivery, as Telegram's server does it: each update is POSTed as JSON to the bot's
 * webhook (with `X-Telegram-Bot-Api-Secret-Token` when a secret is set), one update at a time per
 * queue (messages per chat, queries per user) and at most `max_connections` at once. A non-2xx
 * answer, a timeout or a connection error is retried with a doubling delay (or the answer's
 * `Retry-After`), and recorded as the webhook's last error.
 *
 * A layer without a service: a supervisor fiber starts one delivery loop per bot with a webhook,
 * and restarts or stops it when the webhook changes or is deleted.
 */
import { Effect, FiberMap, FiberSet, Layer, Option } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import * as Http from "node:http"
import { Settings } from "./Options.ts"
import { Signal } from "./Signal.ts"
import type { Update } from "./TelegramTypes.ts"
import { type Pending, Updates, type Webhook } from "./Updates.ts"

type Outcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly message: string; readonly retryAfterMs?: number }

export const WebhookDelivery: Layer.Layer<never, never, Updates | Signal | Settings> = Layer.effectDiscard(
  Effect.gen(function*() {
    const updates = yield* Updates
    const signal = yield* Signal
    const { webhook: tuning } = yield* Settings
    const client = yield* HttpClient.HttpClient
    const loops = yield* FiberMap.make<number>()
    const running = new Map<number, number>()

    const post = (webhook: Webhook, update: Update): Effect.Effect<Outcome> =>
      client.execute(HttpClientRequest.post(webhook.url, {
        headers: webhook.secretToken === null ? {} : { "x-telegram-bot-api-secret-token": webhook.secretToken }
      }).pipe(HttpClientRequest.bodyJsonUnsafe(update))).pipe(
        Effect.flatMap((response) =>
          // Read the answer so the connection is released; its content does not matter.
          Effect.as(Effect.ignore(response.text), response)
        ),
        Effect.map((response): Outcome => {
          if (response.status >= 200 && response.status < 300) return { ok: true }
          const retryAfter = Number(response.headers["retry-after"])
          return {
            ok: false,
            message: `Wrong response from the webhook: ${response.status} ${Http.STATUS_CODES[response.status] ?? ""}`.trim(),
            ...(Number.isFinite(retryAfter) ? { retryAfterMs: Math.min(3600, Math.max(0, retryAfter)) * 1000 } : {})
          }
        }),
        Effect.timeoutOption(tuning.timeoutMs),
        Effect.map(Option.getOrElse((): Outcome => ({ ok: false, message: "Read timeout expired" }))),
        Effect.catch((error) => Effect.succeed<Outcome>({ ok: false, message: transportMessage(error) })),
        Effect.provideService(HttpClient.TracerPropagationEnabled, false)
      )

    const deliver = Effect.fn("WebhookDelivery.deliver")(function*(botId: number, webhook: Webhook, pending: Pending) {
      for (let attempt = 1;; attempt++) {
        const outcome = yield* post(webhook, pending.update)
        if (outcome.ok) return updates.delivered(botId, pending)
        updates.deliveryFailed(botId, outcome.message)
        const backoff = Math.min(tuning.initialRetryDelayMs * 2 ** (attempt - 1), tuning.maxRetryDelayMs)
        yield* Effect.sleep(outcome.retryAfterMs ?? backoff)
      }
    })

    const deliveryLoop = (botId: number, webhook: Webhook) =>
      Effect.gen(function*() {
        const fibers = yield* FiberSet.make()
        const busy = new Set<string>()
        while (true) {
          const next = yield* signal.waitUntil(() =>
            busy.size < webhook.maxConnections ? updates.nextForDelivery(botId, busy) : undefined
          )
          busy.add(next.key)
          yield* FiberSet.run(
            fibers,
            deliver(botId, webhook, next).pipe(
              Effect.catchCause((cause) => Effect.logError("Webhook delivery failed", cause)),
              Effect.ensuring(Effect.sync(() => {
                busy.delete(next.key)
                signal.notify()
              }))
            )
          )
        }
      }).pipe(Effect.scoped)

    /** Webhooks whose delivery loop must be started (new generation) or stopped (gone). */
    const changes = () => {
      const current = updates.webhooks()
      const start = [...current].filter(([botId, webhook]) => running.get(botId) !== webhook.generation)
      const stop = [...running.keys()].filter((botId) => !current.has(botId))
      return start.length === 0 && stop.length === 0 ? undefined : { start, stop }
    }

    yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
      const { start, stop } = yield* signal.waitUntil(changes)
      for (const botId of stop) {
        running.delete(botId)
        yield* FiberMap.remove(loops, botId)
      }
      for (const [botId, webhook] of start) {
        running.set(botId, webhook.generation)
        yield* FiberMap.run(loops, botId)(deliveryLoop(botId, webhook))
      }
    })))
  })
).pipe(
  Layer.provide(FetchHttpClient.layer),
  Layer.provide(Layer.succeed(FetchHttpClient.RequestInit)({ redirect: "manual", keepalive: false }))
)

/** Telegram's wording for a webhook it could not reach. */
const transportMessage = (error: unknown): string => {
  for (let cause: unknown = error; typeof cause === "object" && cause !== null; cause = (cause as { cause?: unknown }).cause) {
    const code = (cause as { code?: unknown }).code
    if (code === "ECONNREFUSED") return "Connection refused"
    if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "Failed to resolve host: Name or service not known"
    if (code === "ECONNRESET") return "Connection reset by peer"
  }
  return error instanceof Error ? error.message : String(error)
}
