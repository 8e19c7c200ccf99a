/**
 * The producer side of the update stream: remember the `update_id` and append the raw update to its chat's
 * partition in one Lua script, so a duplicate is never queued twice and a failure leaves nothing half-written.
 * Both the webhook and the `getUpdates` poller feed the pipeline through here.
 */
import { Context, Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import type { ParsedUpdate } from "../src/domain/Update.ts"
import * as Env from "../src/config.ts"
import { Keys } from "./Keys.ts"

/**
 * KEYS: seen marker, stream. ARGV: marker ttl (s), raw update, traceparent, chat id.
 * The stream append comes before the marker: if it fails (out of memory), nothing is written at all.
 */
const appendScript = Redis.script(
  (seen: string, stream: string, ttl: number, raw: string, traceparent: string, chatId: number) => [
    seen,
    stream,
    ttl,
    raw,
    traceparent,
    chatId
  ],
  {
    numberOfKeys: 2,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[2], '*', 'update', ARGV[2], 'traceparent', ARGV[3], 'chat', ARGV[4])
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return id`
  }
).withReturnType<string | null>()

export type AppendResult = { readonly _tag: "Queued"; readonly entryId: string } | { readonly _tag: "Duplicate" }

export class UpdateIngest extends Context.Service<UpdateIngest, {
  readonly append: (
    update: ParsedUpdate,
    raw: string,
    traceparent: string
  ) => Effect.Effect<AppendResult, Redis.RedisError>
}>()("tg-gateway/streams/UpdateIngest") {
  static readonly layer = Layer.effect(UpdateIngest)(
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = yield* Keys
      const ttl = yield* Env.dedupTtlS
      const run = redis.eval(appendScript)
      return {
        append: (update, raw, traceparent) => {
          const p = keys.partitionOf(update.chatId)
          return Effect.map(
            run(keys.seen(p, update.updateId), keys.stream(p), ttl, raw, traceparent, update.chatId),
            (entryId): AppendResult => entryId === null ? { _tag: "Duplicate" } : { _tag: "Queued", entryId }
          )
        }
      }
    })
  )
}
