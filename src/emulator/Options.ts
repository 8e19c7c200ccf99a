/**
 * Emulator options: what a caller may configure (`EmulatorOptions`), the defaults filled in
 * (`resolveOptions`), and the `Settings` service through which the other parts read them.
 *
 * Limits and faults given here are the initial state; `reset` returns to it and the control API
 * changes it at run time. Every limit is off (`null`) unless configured.
 */
import { Context, Layer } from "effect"

/** Telegram-like sending limits. `null` means unlimited. */
export interface RateLimits {
  /** Successful sending calls per bot in any 1 s window (Telegram: about 30). */
  readonly globalPerSecond: number | null
  /** Sending calls per private chat (positive chat id) in any 1 s window (Telegram: about 1). */
  readonly chatPerSecond: number | null
  /** Sending calls per group or channel (negative chat id) in any 60 s window (Telegram: 20). */
  readonly groupPerMinute: number | null
  /** Bot API requests of one bot in flight at once; above it every call answers 429. */
  readonly maxInFlight: number | null
  /** The `retry_after` (seconds) of an in-flight 429 (Telegram answers 60). */
  readonly inFlightRetryAfter: number
}

/** Injected latency and server errors. */
export interface FaultSettings {
  /** Fixed delay before a call is handled, in ms. */
  readonly latencyMs: number
  /** Extra uniformly random delay in [0, jitterMs), in ms. */
  readonly jitterMs: number
  /** Probability in [0, 1] that a call answers `errorStatus` instead of being handled. */
  readonly errorRate: number
  /** The 5xx status of an injected server error. */
  readonly errorStatus: number
  /** Methods the faults apply to (case-insensitive); `null` means every sending method. */
  readonly methods: ReadonlyArray<string> | null
}

/** Webhook delivery tuning (Telegram: waits up to 60 s, doubles the delay up to 60-120 s). */
export interface WebhookSettings {
  /** Delay before the first retry of a failed delivery, in ms. */
  readonly initialRetryDelayMs: number
  /** Upper bound of the doubling retry delay, in ms. */
  readonly maxRetryDelayMs: number
  /** How long to wait for the webhook to answer, in ms. */
  readonly timeoutMs: number
}

export interface EmulatorOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  readonly port?: number
  /** Interface to listen on (default 127.0.0.1). */
  readonly host?: string
  /**
   * Accepted bot tokens. When absent, any token of the form `<digits>:<30-40 of A-Z a-z 0-9 _ ->`
   * is accepted, like a real token.
   */
  readonly tokens?: ReadonlyArray<string>
  /** The default bot's token: accepted, and the bot `injectUpdate` targets when no bot is named. */
  readonly token?: string
  /** The username getMe returns (default `emulator_<bot id>_bot`). */
  readonly botUsername?: string
  /** The first name getMe returns (default `Emulator Bot`). */
  readonly botFirstName?: string
  readonly limits?: Partial<RateLimits>
  readonly faults?: Partial<FaultSettings>
  readonly webhook?: Partial<WebhookSettings>
  /** Maximum kept entries of the call log and of the message log each (default 200 000). */
  readonly logCapacity?: number
  /** Log every HTTP request through Effect's logger (default false). */
  readonly logRequests?: boolean
}

export interface ResolvedOptions {
  readonly port: number
  readonly host: string
  readonly tokens: ReadonlySet<string> | null
  readonly token: string
  readonly botUsername: string | null
  readonly botFirstName: string
  readonly limits: RateLimits
  readonly faults: FaultSettings
  readonly webhook: WebhookSettings
  readonly logCapacity: number
  readonly logRequests: boolean
}

/** A well-formed token accepted by default; its bot id is 7000000001. */
export const defaultToken = "7000000001:AAEmulatorDefaultToken_0123456789ab"

export const unlimited: RateLimits = {
  globalPerSecond: null,
  chatPerSecond: null,
  groupPerMinute: null,
  maxInFlight: null,
  inFlightRetryAfter: 60
}

/** Telegram's documented limits, for callers that want them: 30/s, 1/s per chat, 20/min per group. */
export const telegramLimits: RateLimits = {
  globalPerSecond: 30,
  chatPerSecond: 1,
  groupPerMinute: 20,
  maxInFlight: null,
  inFlightRetryAfter: 60
}

export const noFaults: FaultSettings = {
  latencyMs: 0,
  jitterMs: 0,
  errorRate: 0,
  errorStatus: 500,
  methods: null
}

export const resolveOptions = (options: EmulatorOptions = {}): ResolvedOptions => {
  const token = options.token ?? options.tokens?.[0] ?? defaultToken
  return {
    port: options.port ?? 0,
    host: options.host ?? "127.0.0.1",
    tokens: options.tokens === undefined ? null : new Set([...options.tokens, token]),
    token,
    botUsername: options.botUsername ?? null,
    botFirstName: options.botFirstName ?? "Emulator Bot",
    limits: { ...unlimited, ...options.limits },
    faults: { ...noFaults, ...options.faults },
    webhook: {
      initialRetryDelayMs: 1_000,
      maxRetryDelayMs: 60_000,
      timeoutMs: 60_000,
      ...options.webhook
    },
    logCapacity: options.logCapacity ?? 200_000,
    logRequests: options.logRequests ?? false
  }
}

/** The resolved options of one emulator instance. */
export class Settings extends Context.Service<Settings, ResolvedOptions>()("tg-gateway/emulator/Settings") {
  static readonly layer = (options: ResolvedOptions): Layer.Layer<Settings> => Layer.succeed(Settings)(options)
}
