/**
 * Receiving updates: getUpdates (offset, limit, long-polling timeout, allowed_updates), setWebhook,
 * deleteWebhook, getWebhookInfo, and answerCallbackQuery for the callback queries delivered.
 */
import { Effect, Schema } from "effect"
import { badRequest } from "../BotApiError.ts"
import { BoolParam, decodeParams, IntParam, StringListParam, StringParam } from "../params/Params.ts"
import { Updates } from "../Updates.ts"
import { type Method, reply } from "./Method.ts"

const decodeGetUpdates = decodeParams(Schema.Struct({
  offset: Schema.optionalKey(IntParam),
  limit: Schema.optionalKey(IntParam),
  timeout: Schema.optionalKey(IntParam),
  allowed_updates: Schema.optionalKey(StringListParam)
}))

const decodeSetWebhook = decodeParams(
  Schema.Struct({
    url: Schema.optionalKey(Schema.String),
    secret_token: Schema.optionalKey(Schema.String),
    max_connections: Schema.optionalKey(IntParam),
    allowed_updates: Schema.optionalKey(StringListParam),
    drop_pending_updates: Schema.optionalKey(BoolParam)
  }),
  { allowed_updates: "can't parse allowed updates JSON object" }
)

const decodeDeleteWebhook = decodeParams(Schema.Struct({ drop_pending_updates: Schema.optionalKey(BoolParam) }))

const decodeAnswer = decodeParams(
  Schema.Struct({ callback_query_id: Schema.String, text: Schema.optionalKey(StringParam) }),
  { callback_query_id: "query is too old and response timeout expired or query ID is invalid" }
)

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value))

export const make = Effect.gen(function*() {
  const updates = yield* Updates

  const getUpdates: Method = {
    name: "getUpdates",
    sending: false,
    run: Effect.fn("getUpdates")(function*(call) {
      const params = yield* decodeGetUpdates(call.params)
      const result = yield* updates.poll(call.bot.id, {
        limit: clamp(params.limit ?? 100, 1, 100),
        timeoutSeconds: Math.max(0, params.timeout ?? 0),
        ...(params.offset === undefined ? {} : { offset: params.offset }),
        ...(params.allowed_updates === undefined ? {} : { allowedUpdates: params.allowed_updates })
      })
      return reply(result)
    })
  }

  const setWebhook: Method = {
    name: "setWebhook",
    sending: false,
    run: Effect.fn("setWebhook")(function*(call) {
      const params = yield* decodeSetWebhook(call.params)
      const drop = params.drop_pending_updates ?? false
      const url = params.url ?? ""
      if (url === "") {
        const wasSet = updates.deleteWebhook(call.bot.id, drop)
        return reply(true, wasSet ? "Webhook was deleted" : "Webhook is already deleted")
      }
      if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
        return yield* badRequest("bad webhook: An HTTPS URL must be provided for webhook")
      }
      const secret = params.secret_token
      if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) {
        return yield* badRequest("bad webhook: secret token contains unallowed characters")
      }
      const webhook = {
        url,
        secretToken: secret ?? null,
        maxConnections: clamp(params.max_connections ?? 40, 1, 100),
        allowedUpdates: params.allowed_updates ?? null
      }
      const current = updates.webhook(call.bot.id)
      const unchanged = current !== null && current.url === webhook.url && current.secretToken === webhook.secretToken &&
        current.maxConnections === webhook.maxConnections &&
        JSON.stringify(current.allowedUpdates) === JSON.stringify(webhook.allowedUpdates)
      if (unchanged && !drop) return reply(true, "Webhook is already set")
      updates.setWebhook(call.bot.id, webhook, drop)
      return reply(true, "Webhook was set")
    })
  }

  const deleteWebhook: Method = {
    name: "deleteWebhook",
    sending: false,
    run: Effect.fn("deleteWebhook")(function*(call) {
      const params = yield* decodeDeleteWebhook(call.params)
      const wasSet = updates.deleteWebhook(call.bot.id, params.drop_pending_updates ?? false)
      return reply(true, wasSet ? "Webhook was deleted" : "Webhook is already deleted")
    })
  }

  const getWebhookInfo: Method = {
    name: "getWebhookInfo",
    sending: false,
    run: (call) => Effect.sync(() => reply(updates.webhookInfo(call.bot.id)))
  }

  const answerCallbackQuery: Method = {
    name: "answerCallbackQuery",
    sending: false,
    run: Effect.fn("answerCallbackQuery")(function*(call) {
      const params = yield* decodeAnswer(call.params)
      if (params.text !== undefined && params.text.length > 200) return yield* badRequest("MESSAGE_TOO_LONG")
      if (!updates.answerCallbackQuery(params.callback_query_id)) {
        return yield* badRequest("query is too old and response timeout expired or query ID is invalid")
      }
      return reply(true)
    })
  }

  return [getUpdates, setWebhook, deleteWebhook, getWebhookInfo, answerCallbackQuery]
})
