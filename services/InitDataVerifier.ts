/**
 * Checks the Mini App's `initData` exactly as Telegram specifies
 * (https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app):
 *
 * - **HMAC** (needs the bot token): the data-check string is every received field but `hash`, as `key=value`,
 *   sorted by key, joined with `\n`; the key is HMAC-SHA256 of the bot token keyed with "WebAppData" (derived
 *   once); `hash` must be the hex HMAC-SHA256 of the data-check string. Compared in constant time.
 * - **Ed25519** (needs only the bot id): `signature` (base64url) must be Telegram's signature, with the
 *   production or test public key (`TELEGRAM_ENV`), of `<bot_id>:WebAppData\n` followed by the data-check
 *   string without `hash` and `signature`. A service that must not hold the bot token validates this way.
 *
 * Either way the signature is checked before anything else is believed, then `auth_date` must be within
 * `INIT_DATA_MAX_AGE_S` and not more than a small clock skew in the future, then the signed JSON fields are
 * decoded with Schema. A key sent twice is refused (which of the two was signed?), and so is anything that does
 * not parse as a query string. Every refusal is an `AuthError` with the contract's code.
 */
import { Clock, Context, Effect, Layer, Metric, Option, Redacted, Schema } from "effect"
import * as Crypto from "node:crypto"
import * as Env from "../src/config.ts"
import { AuthError, type InitData, refuse, StartParam, WebAppChat, WebAppUser } from "../src/domain/TelegramAuth.ts"
import * as Metrics from "../src/metrics.ts"

export class InitDataVerifier extends Context.Service<InitDataVerifier, {
  /** The HMAC check with this gateway's bot token. */
  readonly verify: (raw: string) => Effect.Effect<InitData, AuthError>
  /** The Ed25519 check for `botId` (this bot's id when omitted): no bot token involved. */
  readonly verifySignature: (raw: string, botId?: number) => Effect.Effect<InitData, AuthError>
}>()("tg-gateway/services/InitDataVerifier") {
  static readonly layer = Layer.effect(InitDataVerifier)(
    Effect.gen(function*() {
      const token = Redacted.value(yield* Env.botToken)
      const options: CheckOptions = {
        maxAgeS: yield* Env.initDataMaxAgeS,
        publicKey: telegramPublicKey(yield* Env.telegramEnv)
      }
      const key = secretKeyOf(token)
      const ownBotId = botIdOf(token)
      const record = reported("init_data")
      return {
        verify: (raw) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => record(checkInitData(raw, { key }, now / 1000, options))),
        verifySignature: (raw, botId) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            record(checkInitData(raw, { botId: botId ?? ownBotId }, now / 1000, options)))
      }
    })
  )
}

/** Telegram's published Ed25519 keys for third-party validation. */
const publicKeys = {
  production: "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d",
  test: "40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec"
} as const

export const telegramPublicKey = (env: keyof typeof publicKeys): Crypto.KeyObject =>
  Crypto.createPublicKey({
    // The DER prefix of an Ed25519 SubjectPublicKeyInfo, then the raw 32-byte key.
    key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(publicKeys[env], "hex")]),
    format: "der",
    type: "spki"
  })

/** HMAC-SHA256(key = "WebAppData", message = bot token): the key of every initData hash of this bot. */
export const secretKeyOf = (botToken: string): Buffer =>
  Crypto.createHmac("sha256", "WebAppData").update(botToken).digest()

/** The bot id is the part of its token before the colon. */
export const botIdOf = (botToken: string): number => Number(botToken.slice(0, botToken.indexOf(":")))

export type CheckOptions = {
  readonly maxAgeS: number
  readonly publicKey: Crypto.KeyObject
  /** How far `auth_date` may be ahead of this clock (seconds). */
  readonly skewS?: number
}

/** Longer than any initData Telegram sends (a few KB with every optional field), short enough to parse cheaply. */
export const maxInitDataLength = 8192

const hexHash = /^[0-9a-f]{64}$/
const base64urlSignature = /^[A-Za-z0-9_-]{86}$/

/** A check's result as an effect, counted in `tg_auth_verify_total{method,result}`. */
export const reported = (method: "init_data" | "login_widget") => <A>(result: A | AuthError) =>
  Effect.andThen(
    Metric.update(Metrics.authVerifications(method, result instanceof AuthError ? result.code : "ok"), 1),
    result instanceof AuthError ? Effect.fail(result) : Effect.succeed(result)
  )

/**
 * The HMAC check shared by initData and the Login Widget: `hash` present, 64 hex digits, and equal (in
 * constant time) to the HMAC-SHA256 under `key` of the data-check string of every other field.
 */
export const hashRefusal = (fields: ReadonlyMap<string, string>, key: Buffer): AuthError | undefined => {
  const hash = fields.get("hash")
  if (hash === undefined) return refuse("missing_hash", "the data has no hash")
  if (!hexHash.test(hash)) return refuse("invalid_signature", "the hash is not 64 hex digits")
  const expected = Crypto.createHmac("sha256", key).update(dataCheckString(fields, ["hash"])).digest()
  return Crypto.timingSafeEqual(expected, Buffer.from(hash, "hex"))
    ? undefined
    : refuse("invalid_signature", "the hash does not match this bot's signature")
}

/**
 * The whole check, without effects: `key` for the HMAC check, or `botId` for the Ed25519 one. Returns the
 * verified data or the reason it was refused (never throws).
 */
export const checkInitData = (
  raw: string,
  by: { readonly key: Buffer } | { readonly botId: number },
  nowS: number,
  options: CheckOptions
): InitData | AuthError => {
  if (raw.length === 0 || raw.length > maxInitDataLength) {
    return refuse("malformed", `init data must be 1-${maxInitDataLength} characters`)
  }
  const fields = parseQuery(raw)
  if (typeof fields === "string") {
    return fields === "duplicate_key"
      ? refuse("duplicate_key", "a field appears more than once")
      : refuse("malformed", "init data is not a URL-encoded query string")
  }
  if ("key" in by) {
    const refused = hashRefusal(fields, by.key)
    if (refused !== undefined) return refused
  } else {
    const signature = fields.get("signature")
    if (signature === undefined) return refuse("missing_signature", "init data has no signature")
    if (!base64urlSignature.test(signature)) return refuse("invalid_signature", "the signature is not 64 bytes")
    const message = `${by.botId}:WebAppData\n${dataCheckString(fields, ["hash", "signature"])}`
    if (!Crypto.verify(null, Buffer.from(message), options.publicKey, Buffer.from(signature, "base64url"))) {
      return refuse("invalid_signature", "the signature is not Telegram's for this bot")
    }
  }
  const authDate = decodeInt(fields.get("auth_date"))
  if (authDate === undefined) return refuse("malformed", "auth_date is missing or not a positive integer")
  if (nowS - authDate > options.maxAgeS) return refuse("expired", "init data is older than allowed")
  if (authDate - nowS > (options.skewS ?? 30)) return refuse("from_future", "auth_date is in the future")
  return decodeFields(fields, authDate)
}

/** `key=value` of every field but `excluded`, sorted by key (UTF-16 order, as Telegram's examples), `\n`-joined. */
export const dataCheckString = (fields: ReadonlyMap<string, string>, excluded: ReadonlyArray<string>): string => {
  const lines: Array<string> = []
  for (const [key, value] of fields) if (!excluded.includes(key)) lines.push(`${key}=${value}`)
  return lines.sort().join("\n")
}

/** A query string as `URLSearchParams` reads it (`+` is a space), refusing repeated keys and bad escapes. */
const parseQuery = (raw: string): Map<string, string> | "duplicate_key" | "malformed" => {
  const fields = new Map<string, string>()
  for (const pair of raw.split("&")) {
    const eq = pair.indexOf("=")
    if (eq <= 0) return "malformed"
    let key: string
    let value: string
    try {
      key = decodeURIComponent(pair.slice(0, eq).replaceAll("+", " "))
      value = decodeURIComponent(pair.slice(eq + 1).replaceAll("+", " "))
    } catch {
      return "malformed"
    }
    if (fields.has(key)) return "duplicate_key"
    fields.set(key, value)
  }
  return fields
}

const decodeInt = (value: string | undefined): number | undefined => {
  if (value === undefined || !/^[1-9][0-9]{0,15}$/.test(value)) return undefined
  return Number(value)
}

const decodeJson = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const decode = Schema.decodeUnknownOption(Schema.fromJsonString(schema))
  return (value: string | undefined): Option.Option<S["Type"]> | undefined =>
    value === undefined ? undefined : decode(value) as Option.Option<S["Type"]>
}
const decodeUser = decodeJson(WebAppUser)
const decodeChat = decodeJson(WebAppChat)
const isStartParam = Schema.is(StartParam)

/** The signed fields, decoded: a field that is present but does not decode makes the whole data malformed. */
const decodeFields = (fields: ReadonlyMap<string, string>, authDate: number): InitData | AuthError => {
  const out: { -readonly [K in keyof InitData]: InitData[K] } = { authDate }
  for (const [name, decode] of [["user", decodeUser], ["receiver", decodeUser]] as const) {
    const decoded = decode(fields.get(name))
    if (decoded === undefined) continue
    if (decoded._tag === "None") return refuse("malformed", `${name} is not a WebAppUser`)
    out[name] = decoded.value
  }
  const chat = decodeChat(fields.get("chat"))
  if (chat !== undefined) {
    if (chat._tag === "None") return refuse("malformed", "chat is not a WebAppChat")
    out.chat = chat.value
  }
  const startParam = fields.get("start_param")
  if (startParam !== undefined) {
    if (!isStartParam(startParam)) return refuse("malformed", "start_param is not A-Za-z0-9_-, 1-512 characters")
    out.startParam = startParam
  }
  const canSendAfter = fields.get("can_send_after")
  if (canSendAfter !== undefined) {
    const seconds = canSendAfter === "0" ? 0 : decodeInt(canSendAfter)
    if (seconds === undefined) return refuse("malformed", "can_send_after is not a number of seconds")
    out.canSendAfter = seconds
  }
  for (const [name, field] of [["chat_type", "chatType"], ["chat_instance", "chatInstance"], ["query_id", "queryId"]] as const) {
    const value = fields.get(name)
    if (value !== undefined) out[field] = value
  }
  return out
}
