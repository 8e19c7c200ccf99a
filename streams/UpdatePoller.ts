/**
 * Long polling (`UPDATES_MODE=polling`), for development and as a fallback: deletes the webhook (Telegram
 * refuses `getUpdates` while one is set), then feeds `getUpdates` into the same update stream as the webhook.
 * Only one poller per bot may run, so processes take a lease for it. An offset is confirmed (by asking for the
 * next one) only after its updates are durably queued; a crash replays them and dedup drops the repeats.
 */
import { Effect, Layer, Metric, Schedule } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Crypto from "node:crypto"
import * as Metrics from "../src/metrics.ts"
import { routeUpdate } from "../src/domain/Update.ts"
import { BotApi } from "../services/BotApi.ts"
import { Keys } from "./Keys.ts"
import { UpdateIngest } from "./UpdateIngest.ts"

const pollTimeoutS = 25
const leaseMs = 60_000

const leaseScript = Redis.script((key: string, holder: string, ttl: number) => [key, holder, ttl], {
  numberOfKeys: 1,
  lua: `
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`
}).withReturnType<number>()

export const layer = Layer.effectDiscard(Effect.gen(function*() {
  const api = yield* BotApi
  const redis = yield* Redis.Redis
  const keys = yield* Keys
  const ingest = yield* UpdateIngest
  const holder = Crypto.randomBytes(8).toString("hex")
  const takeLease = redis.eval(leaseScript)

  const pollOnce = (offset: number) =>
    Effect.gen(function*() {
      const updates = (yield* api.call("getUpdates", { offset, timeout: pollTimeoutS, limit: 100 }, {
        timeoutSeconds: pollTimeoutS + 15
      })) as ReadonlyArray<unknown>
      let next = offset
      for (const raw of updates) {
        const routing = routeUpdate(raw)
        if (routing._tag === "None") continue
        const update = routing.value
        const appended = yield* ingest.append(update, JSON.stringify(raw), "")
        yield* appended._tag === "Duplicate"
          ? Metric.update(Metrics.updatesDeduplicated, 1)
          : Metric.update(Metrics.updatesIngested("polling"), 1)
        next = Math.max(next, update.updateId + 1)
      }
      return next
    })

  const loop = Effect.gen(function*() {
    yield* Effect.logInfo("polling mode: deleting the webhook, then polling getUpdates")
    yield* api.call("deleteWebhook", { drop_pending_updates: false })
    let offset = 0
    while (true) {
      if ((yield* takeLease(keys.pollerLease, holder, leaseMs)) !== 1) {
        yield* Effect.sleep("5 seconds")
        continue
      }
      offset = yield* pollOnce(offset)
    }
  }).pipe(
    Effect.tapError((error) => Effect.logWarning("poller: error, retrying", { error: error.message })),
    Effect.retry({ schedule: Schedule.spaced("2 seconds").pipe(Schedule.jittered) }),
    Effect.withSpan("poller")
  )
  yield* Effect.forkScoped(loop)
}))
