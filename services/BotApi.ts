/**
 * The Bot API client as an Effect service: `TELEGRAM_API_ROOT` and `BOT_TOKEN`, with Telegram's answer envelope
 * decoded and its error bodies turned into typed errors. JSON calls use undici's keep-alive pool (the hot path
 * of every reply); calls carrying files go through grammY's `Api`, which encodes multipart uploads. The
 * `Sender` builds on it for everything sent to chats; the poller uses it for `getUpdates`.
 */
import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { Api, GrammyError, InputFile } from "grammy"
import { Pool } from "undici"
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
      // JSON calls go over undici's keep-alive connection pool; grammY's client (node-fetch) remains for
      // payloads with files, which need its multipart encoding.
      const pool = new Pool(new URL(apiRoot).origin, { connections: 128, pipelining: 1 })
      yield* Effect.addFinalizer(() => Effect.promise(() => pool.close()))
      const basePath = `${new URL(apiRoot).pathname.replace(/\/+$/, "")}/bot${token}/`
      const grammy = new Api(token, { apiRoot }).raw as unknown as Record<string, (params?: unknown) => Promise<unknown>>

      const viaPool = (method: string, params: Readonly<Record<string, unknown>>, timeoutSeconds: number) =>
        Effect.tryPromise({
          try: async () => {
            const response = await pool.request({
              method: "POST",
              path: basePath + method,
              headers: { "content-type": "application/json" },
              body: JSON.stringify(params),
              headersTimeout: timeoutSeconds * 1000,
              bodyTimeout: timeoutSeconds * 1000
            })
            return { status: response.statusCode, text: await response.body.text() }
          },
          catch: (cause) =>
            new BotApiError({ method, reason: new TransportError({ message: messageOf(cause) }) })
        }).pipe(Effect.flatMap(({ status, text }) => decodeEnvelope(method, status, text)))

      const viaGrammy = (method: string, params: Readonly<Record<string, unknown>>) =>
        Effect.tryPromise({
          // grammY binds an empty payload to its parameterless methods (getMe, ...), so an empty payload is
          // passed as no argument at all. Its own timeout bounds the call.
          try: () => Object.keys(params).length === 0 ? grammy[method]!() : grammy[method]!(params),
          catch: (cause) => new BotApiError({ method, reason: toReason(cause) })
        })

      return {
        call: (method, params, options) =>
          Object.values(params).some((value) => value instanceof InputFile)
            ? viaGrammy(method, params)
            : viaPool(method, params, options?.timeoutSeconds ?? 30)
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

const messageOf = (cause: unknown) => cause instanceof Error ? cause.message : String(cause)

/** Telegram's answer envelope: `{"ok":true,"result":...}` or `{"ok":false,"error_code":...,"description":...}`. */
const Envelope = Schema.Union([
  Schema.Struct({ ok: Schema.Literal(true), result: Schema.Unknown }),
  Schema.Struct({
    ok: Schema.Literal(false),
    error_code: Schema.Number,
    description: Schema.String,
    parameters: Schema.optional(Schema.Struct({
      retry_after: Schema.optional(Schema.Number),
      migrate_to_chat_id: Schema.optional(Schema.Number)
    }))
  })
])
const decodeEnvelopeJson = Schema.decodeUnknownOption(Schema.fromJsonString(Envelope))

const decodeEnvelope = (method: string, status: number, text: string): Effect.Effect<unknown, BotApiError> => {
  const envelope = decodeEnvelopeJson(text)
  if (Option.isNone(envelope)) {
    return Effect.fail(new BotApiError({
      method,
      reason: new TransportError({ message: `HTTP ${status} without a Bot API answer` })
    }))
  }
  const answer = envelope.value
  if (answer.ok) return Effect.succeed(answer.result)
  const retryAfter = answer.parameters?.retry_after
  const migrateToChatId = answer.parameters?.migrate_to_chat_id
  return Effect.fail(new BotApiError({
    method,
    reason: new TelegramError({
      code: answer.error_code,
      description: answer.description,
      ...(retryAfter === undefined ? {} : { retryAfter }),
      ...(migrateToChatId === undefined ? {} : { migrateToChatId })
    })
  }))
}
