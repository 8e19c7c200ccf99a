/**
 * What the gateway tells the platform about players, appended to the Redis stream `GATEWAY_EVENTS_STREAM`
 * (`gateway:events`, not prefixed: the platform reads it by that name): `telegram_linked`, `telegram_unlinked`,
 * `telegram_attribution`, `telegram_referral`, `support_ticket_opened`, `support_operator_requested`. An entry has field `event` = JSON `{"type","event_id","at",...}`
 * and `traceparent`.
 *
 * An event is published at most once per `event_id` (one Lua script: a marker with `SET NX`, then `XADD`), so
 * a handler that runs again after a crash does not tell the platform twice. The marker lives beside the stream
 * (`<stream>:published:<event_id>`, 7 days).
 */
import { Clock, Context, Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Env from "../src/config.ts"
import { traceparentOf } from "../layers/Telemetry.ts"

export type GatewayEvent =
  | { readonly type: "telegram_linked"; readonly telegram_user_id: number; readonly platform_user_id: string }
  | { readonly type: "telegram_unlinked"; readonly telegram_user_id: number; readonly platform_user_id: string }
  | {
    readonly type: "telegram_attribution"
    readonly telegram_user_id: number
    readonly affiliate_id: string
    readonly campaign_id: string
    readonly click_id: string | null
  }
  | { readonly type: "telegram_referral"; readonly telegram_user_id: number; readonly referrer_platform_user_id: string }
  | {
    readonly type: "support_operator_requested"
    readonly telegram_user_id: number
    readonly chat_id: number
    readonly platform_user_id: string | null
  }
  | {
    readonly type: "support_ticket_opened"
    readonly ticket_id: number
    readonly telegram_user_id: number
    readonly platform_user_id: string | null
  }

/** KEYS: marker, stream. ARGV: marker ttl, event json, traceparent. 1 when appended, 0 when already was. */
const publishScript = Redis.script(
  (marker: string, stream: string, ttl: number, json: string, traceparent: string) => [marker, stream, ttl, json, traceparent],
  {
    numberOfKeys: 2,
    lua: `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000000', '*', 'event', ARGV[2], 'traceparent', ARGV[3])
return 1`
  }
).withReturnType<number>()

export class GatewayEvents extends Context.Service<GatewayEvents, {
  /** Appends `event` unless one with `eventId` was already appended; `false` then. */
  readonly publish: (eventId: string, event: GatewayEvent) => Effect.Effect<boolean, Redis.RedisError>
  /** Whether an event with `eventId` was appended (within the marker's 7 days). */
  readonly published: (eventId: string) => Effect.Effect<boolean, Redis.RedisError>
}>()("tg-gateway/services/GatewayEvents") {
  static readonly layer = Layer.effect(GatewayEvents)(
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const stream = yield* Env.gatewayEventsStream
      const run = redis.eval(publishScript)
      const markerOf = (eventId: string) => `${stream}:published:${eventId}`
      return {
        publish: Effect.fn("GatewayEvents.publish")(function*(eventId: string, event: GatewayEvent) {
          const at = new Date(yield* Clock.currentTimeMillis).toISOString()
          const json = JSON.stringify({ ...event, event_id: eventId, at })
          // Beside the stream: in a Redis Cluster, a stream named with a hash tag (`{gateway}:events`) gives its
          // markers the same slot, as the script needs.
          const appended = yield* run(markerOf(eventId), stream, markerTtlS, json, yield* traceparentOf)
          return appended === 1
        }),
        published: (eventId) =>
          Effect.map(redis.send<number>("EXISTS", markerOf(eventId)), (n) => n === 1)
      }
    })
  )
}

/** Longer than any replay of the update or request that published the event. */
const markerTtlS = 7 * 86_400
