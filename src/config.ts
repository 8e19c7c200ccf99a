/**
 * Every environment variable the gateway reads, as Effect `Config` values.
 *
 * Layers read the values they need from here, so a missing or bad value fails the layer that needs it with a
 * `ConfigError` naming the variable; `main.ts` turns that into one line on stderr. `table` lists every
 * variable with its default and meaning: the README's configuration table is checked against it in tests.
 */
import { Config, type LogLevel, Redacted, Result, Schema } from "effect"
import * as IpNetwork from "effect/net/IpNetwork"

const roleNames = ["http", "worker", "notifier", "sender"] as const
export type Role = (typeof roleNames)[number]
const roleList = roleNames.join("|")
const rolePattern = new RegExp("^\\s*(" + roleList + ")\\s*(,\\s*(" + roleList + ")\\s*)*$")

const splitList = (text: string): Array<string> => text.split(",").map((s) => s.trim()).filter((s) => s !== "")

const intIn = (name: string, fallback: number, minimum: number, maximum: number) =>
  Config.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })), name).pipe(Config.withDefault(fallback))

/** `A-Z a-z 0-9 _ -`, 1-256 characters: what Telegram accepts as a webhook `secret_token`. */
const webhookSecretPattern = /^[A-Za-z0-9_-]{1,256}$/

export const port = intIn("PORT", 8080, 0, 65_535)
export const host = Config.String("HOST").pipe(Config.withDefault("0.0.0.0"))
export const roles = Config.schema(Schema.String.check(Schema.isPattern(rolePattern)), "ROLES").pipe(
  Config.map((s) => [...new Set(s.split(",").map((r) => r.trim() as Role))]),
  Config.withDefault<ReadonlyArray<Role>>(roleNames)
)
export const botToken = Config.Redacted("BOT_TOKEN")
export const telegramApiRoot = Config.String("TELEGRAM_API_ROOT").pipe(Config.withDefault("https://api.telegram.org"))
export const telegramEnv = Config.Literals(["production", "test"], "TELEGRAM_ENV").pipe(
  Config.withDefault("production" as const)
)
export const webhookSecret = Config.schema(
  Schema.Redacted(Schema.String.check(Schema.isPattern(webhookSecretPattern))),
  "WEBHOOK_SECRET"
)
export const publicUrl = Config.option(Config.String("PUBLIC_URL"))
/** The operator's web cabinet (deposits, withdrawals, KYC); unset: `PUBLIC_URL` + `/cabinet`. */
export const cabinetUrl = Config.option(
  Config.schema(Schema.String.check(Schema.isPattern(/^https:\/\/\S+$/)), "CABINET_URL")
)
/** The Mini App (`PUBLIC_URL` + `/app/`) when `PUBLIC_URL` is https: Telegram opens `web_app` buttons over https only. */
export const appUrl = publicUrl.pipe(Config.map((url) =>
  url._tag === "Some" && url.value.startsWith("https://") ? `${url.value.replace(/\/+$/, "")}/app/` : undefined
))
/** Where money moves: `CABINET_URL`, else `PUBLIC_URL` + `/cabinet` when that is https; none otherwise. */
export const cabinetLink = Config.all([cabinetUrl, publicUrl]).pipe(Config.map(([cabinet, url]) =>
  cabinet._tag === "Some" ? cabinet.value
    : url._tag === "Some" && url.value.startsWith("https://") ? `${url.value.replace(/\/+$/, "")}/cabinet` : undefined
))
/** The stream the gateway tells the platform about players on (`telegram_linked`, `support_ticket_opened`, ...). */
export const gatewayEventsStream = Config.String("GATEWAY_EVENTS_STREAM").pipe(Config.withDefault("gateway:events"))
/** The stream the platform appends its events to (`contract.md`); the notifier reads it as group `tg-gateway`. */
export const platformEventsStream = Config.String("PLATFORM_EVENTS_STREAM").pipe(Config.withDefault("platform:events"))
/**
 * Events older than this (by their stream id) are not sent any more: dead-lettered as `expired`. At most 47 h:
 * the sender remembers what it sent for 48 h, so an older event could otherwise send twice.
 */
export const eventMaxAgeS = intIn("EVENT_MAX_AGE_S", 6 * 3600, 60, 47 * 3600)
/** How long a crashed notifier's unacknowledged events wait before another notifier takes them. */
export const eventClaimIdleMs = intIn("EVENT_CLAIM_IDLE_MS", 30_000, 1000, 3_600_000)
/** Bearer token of `/v1/internal/*`; at least 32 characters. */
export const internalApiToken = Config.option(Config.schema(
  Schema.Redacted(Schema.String.check(Schema.isMinLength(32))),
  "INTERNAL_API_TOKEN"
))
/** The bot's username for `t.me` links; unset: asked from Telegram (`getMe`) once. */
export const botUsername = Config.option(
  Config.schema(Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_]{5,32}$/)), "BOT_USERNAME")
)
/** The Mini App's short name, as registered with @BotFather (`t.me/<bot>/<app>`). */
export const miniAppName = Config.schema(Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_]{3,30}$/)), "MINI_APP_NAME")
  .pipe(Config.withDefault("app"))
export const redisUrl = Config.Redacted("REDIS_URL").pipe(
  Config.withDefault(Redacted.make("redis://127.0.0.1:6379"))
)
export const redisPrefix = Config.String("REDIS_PREFIX").pipe(Config.withDefault("tg:"))
export const databaseUrl = Config.Redacted("DATABASE_URL").pipe(
  Config.withDefault(Redacted.make("postgres://postgres@127.0.0.1:5432/postgres"))
)
export const partitions = intIn("PARTITIONS", 16, 1, 1024)
export const updatesMode = Config.Literals(["webhook", "polling"], "UPDATES_MODE").pipe(
  Config.withDefault("webhook" as const)
)
export const otlpEndpoint = Config.option(Config.String("OTEL_EXPORTER_OTLP_ENDPOINT"))
export const serviceName = Config.String("OTEL_SERVICE_NAME").pipe(Config.withDefault("tg-gateway"))
const logLevels = ["all", "fatal", "error", "warn", "info", "debug", "trace", "none"] as const
export const logLevel = Config.schema(
  Schema.String.check(Schema.isPattern(new RegExp("^(" + logLevels.join("|") + ")$", "i"))),
  "LOG_LEVEL"
).pipe(
  Config.map((level) => (level[0]!.toUpperCase() + level.slice(1).toLowerCase()) as LogLevel.LogLevel),
  Config.withDefault<LogLevel.LogLevel>("Info")
)

export const initDataMaxAgeS = intIn("INIT_DATA_MAX_AGE_S", 600, 10, 86_400)
export const jwtTtlS = intIn("JWT_TTL_S", 900, 300, 900)
export const jwtIssuer = Config.String("JWT_ISSUER").pipe(Config.withDefault("tg-gateway"))
export const jwtAudience = Config.String("JWT_AUDIENCE").pipe(Config.withDefault("platform"))
/** 32 bytes, base64: encrypts the JWT signing keys stored in Postgres. */
export const jwtKeyEncryptionKey = Config.schema(
  Schema.Redacted(Schema.String.check(Schema.isPattern(/^[A-Za-z0-9+/]{43}=$/))),
  "JWT_KEY_ENCRYPTION_KEY"
)
export const jwtKeyRotateDays = intIn("JWT_KEY_ROTATE_DAYS", 30, 1, 365)
/** How long one refresh token may be used (each use replaces it). */
export const refreshTokenTtlS = intIn("REFRESH_TOKEN_TTL_S", 7 * 86_400, 300, 90 * 86_400)
/** How long a sign-in lasts however often it is refreshed; then Telegram's signature is needed again. */
export const sessionMaxAgeS = intIn("SESSION_MAX_AGE_S", 30 * 86_400, 3600, 365 * 86_400)
/** Sign-in routes: requests per minute per client address, and per Telegram user. */
export const authRatePerMinIp = intIn("AUTH_RATE_PER_MIN_IP", 60, 1, 1_000_000)
export const authRatePerMinUser = intIn("AUTH_RATE_PER_MIN_USER", 20, 1, 1_000_000)
/** The Mini App's data routes (profile, consents, reminders): requests per minute per address, and per user. */
export const appRatePerMinIp = intIn("APP_RATE_PER_MIN_IP", 600, 1, 1_000_000)
export const appRatePerMinUser = intIn("APP_RATE_PER_MIN_USER", 120, 1, 1_000_000)
/** New players one referrer may be credited with per day (anti-abuse of referral links). */
export const referralsPerDay = intIn("REFERRALS_PER_DAY", 20, 1, 100_000)
/** Promo-code attempts per player per hour (a code guessed by brute force must cost real time). */
export const promoAttemptsPerHour = intIn("PROMO_ATTEMPTS_PER_HOUR", 10, 1, 10_000)
/** Pending "remind me 5 minutes before" reminders one player may have at once (against abuse). */
export const remindersPerUser = intIn("REMINDERS_PER_USER", 20, 1, 1000)
/** Proxies (comma-separated CIDRs) whose `X-Forwarded-For` names the client address; none by default. */
export const trustedProxies = Config.schema(
  Schema.String.check(Schema.makeFilter((text: string) =>
    splitList(text).every((entry) => Result.isSuccess(IpNetwork.fromString(entry))) ||
    "a comma-separated list of CIDR networks, e.g. 10.0.0.0/8,192.168.0.1/32"
  )),
  "TRUSTED_PROXIES"
).pipe(Config.withDefault(""), Config.map((text) => splitList(text).map(IpNetwork.fromStringUnsafe)))
/** The operator's backend; unset: the reference implementation on the gateway's own Postgres tables. */
/** https, except on this machine's loopback (a local backend, tests): the bearer token never travels in clear. */
export const platformApiUrl = Config.option(Config.schema(
  Schema.String.check(Schema.isPattern(/^(https:\/\/\S+|http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/\S*)?)$/)),
  "PLATFORM_API_URL"
))
export const platformApiToken = Config.option(Config.Redacted("PLATFORM_API_TOKEN"))
export const platformTimeoutMs = intIn("PLATFORM_TIMEOUT_MS", 3000, 100, 60_000)

/** Worker tuning: not in the contract, safe defaults. */
export const maxInFlight = intIn("WORKER_MAX_IN_FLIGHT", 1000, 1, 100_000)
export const handlerMaxAttempts = intIn("HANDLER_MAX_ATTEMPTS", 5, 1, 100)
export const handlerRetryBaseMs = intIn("HANDLER_RETRY_BASE_MS", 200, 1, 60_000)
/**
 * A reader stops 1.5 s (its longest blocking read and a margin) before its lease could run out, so a lease
 * must be well above that: at 3 s a reader reads for 1.5 s after each renewal (one every second).
 */
export const leaseMs = intIn("PARTITION_LEASE_MS", 5000, 3000, 600_000)
export const actorIdleMs = intIn("ACTOR_IDLE_MS", 60_000, 100, 3_600_000)
export const dedupTtlS = intIn("DEDUP_TTL_S", 90_000, 86_400, 604_800)
export const chatStateTtlS = intIn("CHAT_STATE_TTL_S", 30 * 86_400, 3600, 365 * 86_400)

const numberIn = (name: string, fallback: number, minimum: number, maximum: number) =>
  Config.schema(Schema.Finite.check(Schema.isBetween({ minimum, maximum })), name).pipe(Config.withDefault(fallback))

export const globalRate = numberIn("TG_GLOBAL_RATE", 30, 0.01, 100_000)
export const chatRate = numberIn("TG_CHAT_RATE", 1, 0.001, 1000)
export const groupRatePerMinute = numberIn("TG_GROUP_RATE_PER_MIN", 20, 0.01, 60_000)
export const notifyShare = numberIn("TG_NOTIFY_SHARE", 1, 0.01, 1)
export const bulkShare = numberIn("TG_BULK_SHARE", 0.97, 0.01, 1)
export const rateSafety = numberIn("TG_RATE_SAFETY", 0.95, 0.5, 1)
export const sendMaxAttempts = intIn("SEND_MAX_ATTEMPTS", 5, 1, 100)
export const sendRetryBaseMs = intIn("SEND_RETRY_BASE_MS", 500, 1, 600_000)
export const senderMaxInFlight = intIn("SENDER_MAX_IN_FLIGHT", 2000, 1, 100_000)


/** What the README's configuration table must list (checked by test/config.test.ts). */
export const table: ReadonlyArray<{ readonly name: string; readonly fallback: string; readonly meaning: string }> = [
  { name: "PORT", fallback: "8080", meaning: "HTTP listener port" },
  { name: "HOST", fallback: "0.0.0.0", meaning: "HTTP listener address" },
  { name: "ROLES", fallback: "http,worker,notifier,sender", meaning: "roles this process runs" },
  { name: "BOT_TOKEN", fallback: "none (required)", meaning: "the bot's token; never logged" },
  { name: "TELEGRAM_API_ROOT", fallback: "https://api.telegram.org", meaning: "Bot API base URL" },
  { name: "TELEGRAM_ENV", fallback: "production", meaning: "which Telegram public key checks Ed25519 signatures" },
  { name: "WEBHOOK_SECRET", fallback: "none", meaning: "expected X-Telegram-Bot-Api-Secret-Token (http role)" },
  { name: "PUBLIC_URL", fallback: "none", meaning: "public https base URL" },
  { name: "CABINET_URL", fallback: "PUBLIC_URL/cabinet", meaning: "the operator's web cabinet (https): deposits, withdrawals, KYC" },
  { name: "GATEWAY_EVENTS_STREAM", fallback: "gateway:events", meaning: "Redis stream of the gateway's events for the platform" },
  { name: "PLATFORM_EVENTS_STREAM", fallback: "platform:events", meaning: "Redis stream of the platform's events to notify players about" },
  { name: "EVENT_MAX_AGE_S", fallback: "21600", meaning: "platform events older than this are dead-lettered as expired, not sent" },
  { name: "EVENT_CLAIM_IDLE_MS", fallback: "30000", meaning: "a crashed notifier's events are taken over after this idle time" },
  { name: "INTERNAL_API_TOKEN", fallback: "none", meaning: "bearer token for /v1/internal/* (at least 32 characters); unset: those routes are not served" },
  { name: "BOT_USERNAME", fallback: "from getMe", meaning: "the bot's username in t.me links" },
  { name: "MINI_APP_NAME", fallback: "app", meaning: "the Mini App's short name in t.me/<bot>/<app> links" },
  { name: "UPDATES_MODE", fallback: "webhook", meaning: "webhook or polling (getUpdates)" },
  { name: "REDIS_URL", fallback: "redis://127.0.0.1:6379", meaning: "Redis" },
  { name: "REDIS_PREFIX", fallback: "tg:", meaning: "prefix of every Redis key" },
  { name: "DATABASE_URL", fallback: "postgres://postgres@127.0.0.1:5432/postgres", meaning: "Postgres" },
  { name: "PARTITIONS", fallback: "16", meaning: "update stream partitions" },
  { name: "INIT_DATA_MAX_AGE_S", fallback: "600", meaning: "freshness window for auth_date (initData and Login Widget)" },
  { name: "JWT_TTL_S", fallback: "900", meaning: "access token lifetime, 300..900" },
  { name: "JWT_ISSUER", fallback: "tg-gateway", meaning: "iss of access tokens" },
  { name: "JWT_AUDIENCE", fallback: "platform", meaning: "aud of access tokens" },
  { name: "JWT_KEY_ENCRYPTION_KEY", fallback: "none", meaning: "32 bytes, base64: encrypts the JWT signing keys stored in Postgres" },
  { name: "JWT_KEY_ROTATE_DAYS", fallback: "30", meaning: "age at which the signing key is replaced" },
  { name: "REFRESH_TOKEN_TTL_S", fallback: "604800", meaning: "lifetime of one refresh token (each use replaces it)" },
  { name: "SESSION_MAX_AGE_S", fallback: "2592000", meaning: "lifetime of a sign-in however often it is refreshed" },
  { name: "AUTH_RATE_PER_MIN_IP", fallback: "60", meaning: "sign-in route requests per minute per client address" },
  { name: "AUTH_RATE_PER_MIN_USER", fallback: "20", meaning: "sign-in route requests per minute per Telegram user" },
  { name: "APP_RATE_PER_MIN_IP", fallback: "600", meaning: "Mini App data route requests (me, consents, reminders) per minute per client address" },
  { name: "APP_RATE_PER_MIN_USER", fallback: "120", meaning: "Mini App data route requests per minute per Telegram user" },
  { name: "REFERRALS_PER_DAY", fallback: "20", meaning: "new players one referrer may be credited with per day" },
  { name: "PROMO_ATTEMPTS_PER_HOUR", fallback: "10", meaning: "promo-code attempts per player per hour" },
  { name: "REMINDERS_PER_USER", fallback: "20", meaning: "pending tournament reminders one player may have at once" },
  { name: "TRUSTED_PROXIES", fallback: "none", meaning: "CIDRs of proxies whose X-Forwarded-For names the client address" },
  { name: "PLATFORM_API_URL", fallback: "unset", meaning: "operator backend (docs/platform-api.md); unset: reference tables in Postgres" },
  { name: "PLATFORM_API_TOKEN", fallback: "none", meaning: "bearer token the gateway sends to PLATFORM_API_URL" },
  { name: "PLATFORM_TIMEOUT_MS", fallback: "3000", meaning: "timeout of one call to the operator backend" },
  { name: "OTEL_EXPORTER_OTLP_ENDPOINT", fallback: "unset", meaning: "OTLP/HTTP endpoint" },
  { name: "OTEL_SERVICE_NAME", fallback: "tg-gateway", meaning: "service name on spans" },
  { name: "LOG_LEVEL", fallback: "info", meaning: "JSON logs on stdout" },
  { name: "WORKER_MAX_IN_FLIGHT", fallback: "1000", meaning: "updates in flight per worker process" },
  { name: "HANDLER_MAX_ATTEMPTS", fallback: "5", meaning: "handler attempts before dead-lettering" },
  { name: "HANDLER_RETRY_BASE_MS", fallback: "200", meaning: "first retry delay, doubled per attempt" },
  { name: "PARTITION_LEASE_MS", fallback: "5000", meaning: "partition lease lifetime (at least 3000)" },
  { name: "ACTOR_IDLE_MS", fallback: "60000", meaning: "idle time before a chat actor is passivated" },
  { name: "DEDUP_TTL_S", fallback: "90000", meaning: "how long an update_id is remembered" },
  { name: "CHAT_STATE_TTL_S", fallback: "2592000", meaning: "how long an idle chat's FSM state is kept" },
  { name: "TG_GLOBAL_RATE", fallback: "30", meaning: "messages per second per bot, all processes together" },
  { name: "TG_CHAT_RATE", fallback: "1", meaning: "messages per second per private chat" },
  { name: "TG_GROUP_RATE_PER_MIN", fallback: "20", meaning: "messages per minute per group chat" },
  { name: "TG_NOTIFY_SHARE", fallback: "1", meaning: "ceiling of the notify lane, as a share of the global rate" },
  { name: "TG_BULK_SHARE", fallback: "0.97", meaning: "ceiling of the bulk lane (mailings), as a share of the global rate" },
  { name: "TG_RATE_SAFETY", fallback: "0.95", meaning: "share of each limit the sender paces at (absorbs network jitter)" },
  { name: "SEND_MAX_ATTEMPTS", fallback: "5", meaning: "attempts of a queued message on 5xx/network errors before dead-lettering" },
  { name: "SEND_RETRY_BASE_MS", fallback: "500", meaning: "first retry delay of a queued message, doubled per attempt, jittered" },
  { name: "SENDER_MAX_IN_FLIGHT", fallback: "2000", meaning: "queued messages in flight per sender process and lane" }
]
