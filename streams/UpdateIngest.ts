/**
 * The producer side of the update stream: remember the `update_id` and append the raw update to its chat's
 * partition in one Lua script, so a duplicate is never queued twice and a failure leaves nothing half-written.
 * Both the webhook and the `getUpdates` poller feed the pipeline through here.
 */
import { Context, Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Crypto from "node:crypto"
import type { ParsedUpdate } from "../src/domain/Update.ts"
import * as Env from "../src/config.ts"
import { batchThisTick, RedisClient } from "../layers/Redis.ts"
import { Keys } from "./Keys.ts"

/**
 * KEYS: seen marker, stream. ARGV: marker ttl (s), raw update, traceparent, chat id.
 * The stream append comes before the marker: if it fails (out of memory), nothing is written at all.
 */
const appendLua = `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[2], '*', 'update', ARGV[2], 'traceparent', ARGV[3], 'chat', ARGV[4])
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return id`
const appendSha = Crypto.createHash("sha1").update(appendLua).digest("hex")

export type AppendResult = { readonly _tag: "Queued"; readonly entryId: string } | { readonly _tag: "Duplicate" }

const duplicate: AppendResult = { _tag: "Duplicate" }

export class UpdateIngest extends Context.Service<UpdateIngest, {
  readonly append: (
    update: ParsedUpdate,
    raw: string,
    traceparent: string
  ) => Effect.Effect<AppendResult, Redis.RedisError>
  /** `append` without a fiber, for the webhook's hot path; rejects with a `RedisError`. */
  readonly appendNow: (update: ParsedUpdate, raw: string, traceparent: string) => Promise<AppendResult>
}>()("tg-gateway/streams/UpdateIngest") {
  static readonly layer = Layer.effect(UpdateIngest)(
    Effect.gen(function*() {
      const client = yield* RedisClient
      const keys = yield* Keys
      const ttl = yield* Env.dedupTtlS
      const toResult = (entryId: unknown): AppendResult =>
        entryId === null ? duplicate : { _tag: "Queued", entryId: entryId as string }
      const appendNow = (update: ParsedUpdate, raw: string, traceparent: string): Promise<AppendResult> => {
        const p = keys.partitionOf(update.chatId)
        const args = [keys.seen(p, update.updateId), keys.stream(p), ttl, raw, traceparent, update.chatId] as const
        batchThisTick(client)
        return client.evalsha(appendSha, 2, ...args).then(toResult, (error: unknown) =>
          // A Redis that restarted or flushed its script cache: send the script itself (which caches it again).
          error instanceof Error && error.message.startsWith("NOSCRIPT")
            ? client.eval(appendLua, 2, ...args).then(toResult, (cause: unknown) => {
              throw new Redis.RedisError({ cause })
            })
            : Promise.reject(new Redis.RedisError({ cause: error })))
      }
      return {
        appendNow,
        append: (update, raw, traceparent) =>
          Effect.tryPromise({
            try: () => appendNow(update, raw, traceparent),
            catch: (error) => error instanceof Redis.RedisError ? error : new Redis.RedisError({ cause: error })
          })
      }
    })
  )
}
