/**
 * Request budgets of the routes with Telegram data or tokens, shared by every process through Redis (Effect's
 * `RateLimiter` with its Redis store), each a per-address budget taken before any work and a per-user one taken
 * once the user is known:
 * - sign-in (exchange, login widget, refresh, link and unlink): `AUTH_RATE_PER_MIN_IP` and `AUTH_RATE_PER_MIN_USER`;
 * - the Mini App's data (`app`: profile, consents, reminders), which a player browsing calls far more often:
 *   `APP_RATE_PER_MIN_IP` and `APP_RATE_PER_MIN_USER`, in buckets of their own, so browsing never uses up a sign-in.
 * The client address is the connection's peer, or the `X-Forwarded-For` entry set by a proxy in `TRUSTED_PROXIES`
 * (a forged entry from a client is not believed). An IPv6 client counts by its /64: one subscriber holds a whole
 * /64, so single addresses cost it nothing.
 */
import { Context, Effect, Layer, Result } from "effect"
import { HttpServerRequest } from "effect/http"
import * as NetAddress from "effect/net/NetAddress"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Env from "../config.ts"
import * as RedisLayer from "../../layers/Redis.ts"
import { RateLimited, retryAfterSeconds, Unavailable } from "./AuthApi.ts"

/** One pair of budgets: the client address's, then the user's. */
export type Budget = {
  readonly address: Effect.Effect<void, RateLimited | Unavailable, HttpServerRequest.HttpServerRequest>
  readonly user: (telegramUserId: number) => Effect.Effect<void, RateLimited | Unavailable>
}

/** The sign-in budgets (`address`, `user`) and the Mini App data routes' (`app`). */
export class AuthLimits extends Context.Service<AuthLimits, Budget & { readonly app: Budget }>()(
  "tg-gateway/src/http/AuthLimits"
) {
  static readonly layer = Layer.effect(AuthLimits)(
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.RateLimiter

      const take = (key: string, limit: number, scope: "ip" | "user") =>
        limiter.consume({ algorithm: "fixed-window", window: "1 minute", limit, key, onExceeded: "fail" }).pipe(
          Effect.asVoid,
          Effect.catch((error): Effect.Effect<never, RateLimited | Unavailable> =>
            error.reason._tag === "RateLimitExceeded"
              ? Effect.fail(new RateLimited({ retryAfterS: retryAfterSeconds(error.reason.retryAfter), scope }))
              : Effect.fail(new Unavailable({ message: "rate limit store unavailable" }))
          )
        )

      const budget = (name: string, perIp: number, perUser: number): Budget => ({
        address: Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
          take(`${name}:ip:${clientOf(request.remoteAddress._tag === "Some" ? request.remoteAddress.value : "")}`, perIp, "ip")),
        user: (telegramUserId) => take(`${name}:user:${telegramUserId}`, perUser, "user")
      })

      return {
        ...budget("auth", yield* Env.authRatePerMinIp, yield* Env.authRatePerMinUser),
        app: budget("app", yield* Env.appRatePerMinIp, yield* Env.appRatePerMinUser)
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
