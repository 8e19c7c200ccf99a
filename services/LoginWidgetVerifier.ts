/**
 * Checks the Telegram Login Widget's data as Telegram specifies
 * (https://core.telegram.org/widgets/login#checking-authorization): the data-check string is every received
 * field but `hash`, as `key=value`, sorted by key, joined with `\n`; the key is SHA-256 of the bot token
 * (derived once); `hash` must be the hex HMAC-SHA256 of the data-check string, compared in constant time. Then
 * `auth_date` must be within `INIT_DATA_MAX_AGE_S` and not in the future beyond a small skew, and the fields
 * must decode as the widget's (Schema). Fields the widget may add later are covered by the signature too, so
 * they are accepted when signed; nested values are not something the widget sends and are refused.
 */
import { Clock, Context, Effect, Layer, Redacted, Schema } from "effect"
import * as Crypto from "node:crypto"
import * as Env from "../src/config.ts"
import { type AuthError, LoginWidgetData, refuse } from "../src/domain/TelegramAuth.ts"
import { hashRefusal, reported } from "./InitDataVerifier.ts"

export class LoginWidgetVerifier extends Context.Service<LoginWidgetVerifier, {
  /** `data`: the widget's fields as received (a JSON object or the redirect's query parameters). */
  readonly verify: (data: unknown) => Effect.Effect<LoginWidgetData, AuthError>
}>()("tg-gateway/services/LoginWidgetVerifier") {
  static readonly layer = Layer.effect(LoginWidgetVerifier)(
    Effect.gen(function*() {
      const key = widgetKeyOf(Redacted.value(yield* Env.botToken))
      const maxAgeS = yield* Env.initDataMaxAgeS
      const record = reported("login_widget")
      return {
        verify: (data) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => record(checkLoginWidget(data, key, now / 1000, maxAgeS)))
      }
    })
  )
}

/** SHA-256 of the bot token: the key of every Login Widget hash of this bot. */
export const widgetKeyOf = (botToken: string): Buffer => Crypto.createHash("sha256").update(botToken).digest()

const decodeWidget = Schema.decodeUnknownOption(LoginWidgetData)

/** The whole check, without effects; never throws. */
export const checkLoginWidget = (
  data: unknown,
  key: Buffer,
  nowS: number,
  maxAgeS: number,
  skewS = 30
): LoginWidgetData | AuthError => {
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    return refuse("malformed", "the Login Widget data is not an object")
  }
  const fields = new Map<string, string>()
  for (const [name, value] of Object.entries(data)) {
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      return refuse("malformed", `${name} is not a string or a number`)
    }
    fields.set(name, String(value))
  }
  if (fields.size > 32) return refuse("malformed", "too many fields")
  const refused = hashRefusal(fields, key)
  if (refused !== undefined) return refused
  // The redirect flavour of the widget passes every field as text: integers are read from digits there.
  const candidate: Record<string, unknown> = { ...data }
  for (const name of ["id", "auth_date"]) {
    const value = candidate[name]
    if (typeof value === "string" && /^[0-9]{1,16}$/.test(value)) candidate[name] = Number(value)
  }
  const decoded = decodeWidget(candidate)
  if (decoded._tag === "None") return refuse("malformed", "the fields are not the Login Widget's")
  const authDate = decoded.value.auth_date
  if (nowS - authDate > maxAgeS) return refuse("expired", "the sign-in is older than allowed")
  if (authDate - nowS > skewS) return refuse("from_future", "auth_date is in the future")
  return decoded.value
}
