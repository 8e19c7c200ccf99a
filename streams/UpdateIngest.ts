/**
 * The producer side of the update stream: remember the `update_id` and append the raw update to its chat's
 * partition in one Lua script, so a duplicate is never queued twice and a failure leaves no update half-written.
 * The updates that arrive in one turn of the event loop go in one script call, each on its own. Both the webhook
 * and the `getUpdates` poller feed the pipeline through here.
 */
import { Context, Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import type { ParsedUpdate } from "../src/domain/Update.ts"
import * as Env from "../src/config.ts"
import { RedisClient } from "../layers/Redis.ts"
import { Keys } from "./Keys.ts"

/**
 * KEYS: per update its seen marker and stream. ARGV: marker ttl (s), then per update its raw update, traceparent
 * and chat id. Returns per update its entry id, or nil for a duplicate (also of an earlier update of the same call).
 * Each update's stream append comes before its marker: if it fails (out of memory), that update is not written at
 * all, and the call fails.
 */
const appendLua = `
local out = {}
for i = 1, #KEYS / 2 do
  local seen, stream = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('EXISTS', seen) == 1 then
    out[i] = false
  else
    out[i] = redis.call('XADD', stream, '*', 'update', ARGV[3 * i - 1], 'traceparent', ARGV[3 * i], 'chat', ARGV[3 * i + 1])
    redis.call('SET', seen, '1', 'EX', ARGV[1])
  end
end
return out`

/** At most this many updates go in one script call. */
const maxBatch = 64

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

      /**
       * The script is sent whole (`EVAL`, which Redis caches by its hash), not by hash with a fallback: after a
       * restart or `SCRIPT FLUSH` a call by hash fails, and its retry would go out behind later calls that
       * succeed, putting a chat's later update before an earlier one.
       */
      const run = (keyCount: number, args: ReadonlyArray<string | number>) =>
        client.eval(appendLua, keyCount, ...args).catch((cause: unknown) => Promise.reject(new Redis.RedisError({ cause })))

      type Waiting = {
        readonly update: ParsedUpdate
        readonly raw: string
        readonly traceparent: string
        readonly resolve: (result: AppendResult) => void
        readonly reject: (error: Redis.RedisError) => void
      }
      let waiting: Array<Waiting> = []

      /**
       * The updates that arrived since the last flush, in one script call: at a few thousand updates/s several
       * requests finish in one turn of the event loop, and one call for them costs Redis and this process less than
       * a call each. Each update is still deduplicated and appended on its own.
       */
      const flush = () => {
        const batch = waiting
        waiting = []
        if (batch.length === 0) return
        const fail = (error: Redis.RedisError) => batch.forEach((w) => w.reject(error))
        try {
          const keyList: Array<string> = []
          const args: Array<string | number> = [ttl]
          for (const { update, raw, traceparent } of batch) {
            const p = keys.partitionOf(update.chatId)
            keyList.push(keys.seen(p, update.updateId), keys.stream(p))
            args.push(raw, traceparent, update.chatId)
          }
          run(keyList.length, [...keyList, ...args]).then(
            (entryIds) => batch.forEach((w, i) => w.resolve(toResult((entryIds as Array<unknown>)[i] ?? null))),
            fail
          )
        } catch (cause) {
          fail(new Redis.RedisError({ cause }))
        }
      }

      const appendNow = (update: ParsedUpdate, raw: string, traceparent: string): Promise<AppendResult> =>
        new Promise((resolve, reject) => {
          waiting.push({ update, raw, traceparent, resolve, reject })
          if (waiting.length === 1) setImmediate(flush)
          else if (waiting.length >= maxBatch) flush()
        })
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
