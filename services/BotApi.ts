/**
 * The Bot API client (grammY's `Api`) as an Effect service: `TELEGRAM_API_ROOT` and `BOT_TOKEN`, with
 * Telegram's error bodies turned into typed errors. The `Sender` builds on it for everything sent to chats;
 * the poller uses it for `getUpdates`.
 */
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { Api, GrammyError } from "grammy"
import * as Http from "node:http"
import * as Https from "node:https"
import * as Env from "../src/config.ts"

/** Telegram answered `ok: false`. */
export class TelegramError extends Schema.TaggedError<TelegramError>()("TelegramError", {
  code: Schema.Number,
  description: Schema.String,
  retryAfter: Schema.optional(Schema.Number),
  migrateToChatId: Schema.optional(Schema.Number)
}) {}

/** No answer from Telegram (network, timeout, a gateway error without a Bot API body). */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  message: Schema.String
}) {}

export class BotApiError extends Schema.TaggedError<BotApiError>()("BotApiError", {
  method: Schema.String,
  reason: Schema.Union([TelegramError, TransportError])
}) {
  override get message(): string {
    const r = this.reason
    return `${this.method}: ${r._tag === "TelegramError" ? `${r.code} ${r.description}` : r.message}`
  }
}

export class BotApi extends Context.Service<BotApi, {
  readonly call: (
    method: string,
    params: Readonly<Record<string, unknown>>,
    options?: { readonly timeoutSeconds?: number }
  ) => Effect.Effect<unknown, BotApiError>
}>()("tg-gateway/services/BotApi") {
  static readonly layer = Layer.effect(BotApi)(
    Effect.gen(function*() {
      const token = Redacted.value(yield* Env.botToken)
      const apiRoot = yield* Env.telegramApiRoot
      // grammY fetches with node-fetch on Node (its abort signals are not the global ones); keep connections alive.
      const agent = apiRoot.startsWith("https:")
        ? new Https.Agent({ keepAlive: true, maxSockets: 256 })
        : new Http.Agent({ keepAlive: true, maxSockets: 256 })
      yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
      const make = (timeoutSeconds: number) =>
        new Api(token, { apiRoot, timeoutSeconds, baseFetchConfig: { agent } as never }).raw as unknown as Record<
          string,
          (params?: unknown) => Promise<unknown>
        >
      const standard = make(30)
      const longPoll = make(60)
      return {
        call: (method, params, options) =>
          Effect.tryPromise({
            // grammY binds an empty payload to its parameterless methods (getMe, ...), so an empty payload is
            // passed as no argument at all. Its own timeout bounds the call.
            try: () => {
              const call = ((options?.timeoutSeconds ?? 0) > 25 ? longPoll : standard)[method]!
              return Object.keys(params).length === 0 ? call() : call(params)
            },
            catch: (cause) => new BotApiError({ method, reason: toReason(cause) })
          })
      }
    })
  )
}

const toReason = (cause: unknown): TelegramError | TransportError =>
  cause instanceof GrammyError
    ? new TelegramError({
      code: cause.error_code,
      description: cause.description,
      ...(cause.parameters.retry_after === undefined ? {} : { retryAfter: cause.parameters.retry_after }),
      ...(cause.parameters.migrate_to_chat_id === undefined
        ? {}
        : { migrateToChatId: cause.parameters.migrate_to_chat_id })
    })
    : new TransportError({ message: cause instanceof Error ? cause.message : String(cause) })
