/**
 * Request budgets of the sign-in routes, shared by every process through Redis (Effect's `RateLimiter` with its
 * Redis store): `AUTH_RATE_PER_MIN_IP` per client address, taken before any work, and `AUTH_RATE_PER_MIN_USER`
 * per Telegram user, taken once the user is known. The client address is the connection's peer, or the
 * `X-Forwarded-For` entry set by a proxy in `TRUSTED_PROXIES` (a forged entry from a client is not believed).
 * An IPv6 client counts by its /64: one subscriber holds a whole /64, so single addresses cost it nothing.
 */
import { Context, Effect, Layer, Result } from "effect"
import { HttpServerRequest } from "effect/http"
import * as NetAddress from "effect/net/NetAddress"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Env from "../config.ts"
import * as RedisLayer from "../../layers/Redis.ts"
import { RateLimited, retryAfterSeconds, Unavailable } from "./AuthApi.ts"

export class AuthLimits extends Context.Service<AuthLimits, {
  readonly address: Effect.Effect<void, RateLimited | Unavailable, HttpServerRequest.HttpServerRequest>
  readonly user: (telegramUserId: number) => Effect.Effect<void, RateLimited | Unavailable>
}>()("tg-gateway/src/http/AuthLimits") {
  static readonly layer = Layer.effect(AuthLimits)(
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.RateLimiter
      const perIp = yield* Env.authRatePerMinIp
      const perUser = yield* Env.authRatePerMinUser

      const take = (key: string, limit: number, scope: "ip" | "user") =>
        limiter.consume({ algorithm: "fixed-window", window: "1 minute", limit, key, onExceeded: "fail" }).pipe(
          Effect.asVoid,
          Effect.catch((error): Effect.Effect<never, RateLimited | Unavailable> =>
            error.reason._tag === "RateLimitExceeded"
              ? Effect.fail(new RateLimited({ retryAfterS: retryAfterSeconds(error.reason.retryAfter), scope }))
              : Effect.fail(new Unavailable({ message: "rate limit store unavailable" }))
          )
        )

      return {
        address: Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
          take(`auth:ip:${clientOf(request.remoteAddress._tag === "Some" ? request.remoteAddress.value : "")}`, perIp, "ip")),
        user: (telegramUserId) => take(`auth:user:${telegramUserId}`, perUser, "user")
      }
    })
  ).pipe(Layer.provide(RedisLayer.rateLimiter))
}

/** The budget's key for an address: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64 prefix. */
export const clientOf = (address: string): string => {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  const parsed = NetAddress.ipFromString(address.replace(/%.*$/, ""))
  if (Result.isFailure(parsed)) return address === "" ? "unknown" : "invalid"
  const ip = parsed.success
  if (!NetAddress.isIpv6Address(ip)) return NetAddress.formatIp(ip)
  const segments = NetAddress.ipv6ToSegments(ip)
  return `${segments.slice(0, 4).map((s) => s.toString(16)).join(":")}::/64`
}
