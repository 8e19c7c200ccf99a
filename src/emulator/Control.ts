/**
 * The emulator's control and inspection operations, shared by the in-process API (`Emulator`)
 * and the HTTP control API (`/_emulator/...`): reset, limits, floods, faults, chat states,
 * update injection, files, the logs and counters, and waits that end on a state change rather
 * than after a sleep.
 */
import { Context, Duration, Effect, Layer, Schema } from "effect"
import { Bots } from "./Bots.ts"
import { Chats, type ChatProfile, type ChatState } from "./Chats.ts"
import { Faults } from "./Faults.ts"
import { type FileInput, Files, type StoredFile } from "./Files.ts"
import { type CallLogEntry, type Counters, Journal, type MessageLogEntry } from "./Journal.ts"
import { type FloodOptions, Limits } from "./Limits.ts"
import type { FaultSettings, RateLimits } from "./Options.ts"
import { Signal } from "./Signal.ts"
import type { Update, WebhookInfo } from "./TelegramTypes.ts"
import { Updates } from "./Updates.ts"

/** A wait of the emulator API that did not see its condition in time. */
export class EmulatorTimeout extends Schema.TaggedError<EmulatorTimeout>()("EmulatorTimeout", {
  waitingFor: Schema.String,
  timeoutMs: Schema.Number
}) {}

export interface WaitOptions {
  /** How long to wait before failing with `EmulatorTimeout` (default 10 seconds). */
  readonly timeout?: Duration.Input
}

/** An update to inject; `update_id` (and a message's `message_id` and `date`) are filled when absent. */
export type UpdateInput = Readonly<Record<string, unknown>>

export interface InjectOptions {
  /** The bot that receives it (default: the bot of the emulator's default token). */
  readonly botId?: number
}

/** Synchronous reads of the emulator state, for `waitUntil` conditions. */
export interface EmulatorView {
  readonly counters: () => Counters
  readonly messages: (chatId?: number) => ReadonlyArray<MessageLogEntry>
  readonly calls: () => ReadonlyArray<CallLogEntry>
  readonly webhookInfo: (botId?: number) => WebhookInfo
}

export interface BotSummary {
  readonly id: number
  readonly token: string
  readonly username: string | undefined
  readonly webhook: WebhookInfo
}

export interface ControlApi {
  /** Forgets everything (logs, counters, chats, updates, webhooks, files) and restores the initial settings. */
  readonly reset: Effect.Effect<void>
  readonly limits: Effect.Effect<RateLimits>
  /** Changes some limits (`null` turns one off) and returns those now in force. */
  readonly configureLimits: (patch: Partial<RateLimits>) => Effect.Effect<RateLimits>
  readonly faults: Effect.Effect<FaultSettings>
  /** Changes latency and 5xx injection and returns the settings now in force. */
  readonly configureFaults: (patch: Partial<FaultSettings>) => Effect.Effect<FaultSettings>
  /** Forces the next `count` sending calls, or all for `durationMs`, to answer 429 with `retryAfter`. */
  readonly flood: (options: FloodOptions) => Effect.Effect<void>
  /** Registers a chat's type, names and `@username` (and optionally its state). */
  readonly registerChat: (profile: ChatProfile) => Effect.Effect<void>
  readonly setChatState: (chatIds: ReadonlyArray<number>, state: ChatState) => Effect.Effect<void>
  /** Sending to these users answers 403 "Forbidden: bot was blocked by the user". */
  readonly blockUsers: (chatIds: ReadonlyArray<number>) => Effect.Effect<void>
  /** Sending to these users answers 403 "Forbidden: user is deactivated". */
  readonly deactivateUsers: (chatIds: ReadonlyArray<number>) => Effect.Effect<void>
  /** Queues an update for webhook delivery or getUpdates; returns it with its ids filled in. */
  readonly injectUpdate: (update: UpdateInput, options?: InjectOptions) => Effect.Effect<Update>
  readonly registerFile: (file: FileInput) => Effect.Effect<StoredFile>
  /** The message log of one chat, or of all chats. */
  readonly messages: (chatId?: number) => Effect.Effect<ReadonlyArray<MessageLogEntry>>
  readonly calls: Effect.Effect<ReadonlyArray<CallLogEntry>>
  readonly counters: Effect.Effect<Counters>
  readonly webhookInfo: (botId?: number) => Effect.Effect<WebhookInfo>
  readonly bots: Effect.Effect<ReadonlyArray<BotSummary>>
  /** Waits until the chat's message log holds at least `count` entries; returns them. */
  readonly awaitMessages: (
    chatId: number,
    count: number,
    options?: WaitOptions
  ) => Effect.Effect<ReadonlyArray<MessageLogEntry>, EmulatorTimeout>
  /** Waits until at least `count` logged calls satisfy `predicate`; returns them. */
  readonly awaitCalls: (
    predicate: (call: CallLogEntry) => boolean,
    count?: number,
    options?: WaitOptions
  ) => Effect.Effect<ReadonlyArray<CallLogEntry>, EmulatorTimeout>
  /** Waits until at least `count` calls of `method` are being handled (e.g. a long poll waiting). */
  readonly awaitInFlight: (method: string, count?: number, options?: WaitOptions) => Effect.Effect<void, EmulatorTimeout>
  /** Waits until a bot has at most `count` undelivered updates (webhook or getUpdates). */
  readonly awaitPendingUpdates: (count?: number, options?: WaitOptions & InjectOptions) => Effect.Effect<void, EmulatorTimeout>
  /**
   * The general change signal: re-evaluates `poll` after every state change until it returns a
   * value other than `undefined`, and succeeds with that value.
   */
  readonly waitUntil: <A>(
    poll: (view: EmulatorView) => A | undefined,
    options?: WaitOptions & { readonly label?: string }
  ) => Effect.Effect<A, EmulatorTimeout>
}

export class Control extends Context.Service<Control, ControlApi>()("tg-gateway/emulator/Control") {
  static readonly layer = Layer.effect(Control)(Effect.gen(function*() {
    const bots = yield* Bots
    const chats = yield* Chats
    const faults = yield* Faults
    const files = yield* Files
    const journal = yield* Journal
    const limits = yield* Limits
    const signal = yield* Signal
    const updates = yield* Updates

    const botIdOr = (botId: number | undefined) => botId ?? bots.defaultBot.id

    const view: EmulatorView = {
      counters: () => journal.counters(),
      messages: (chatId) => journal.messages(chatId),
      calls: () => journal.calls(),
      webhookInfo: (botId) => updates.webhookInfo(botIdOr(botId))
    }

    const waitUntil = <A>(poll: (view: EmulatorView) => A | undefined, options?: WaitOptions & { readonly label?: string }) => {
      const timeout = Duration.fromInputUnsafe(options?.timeout ?? "10 seconds")
      return signal.waitUntil(() => poll(view)).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(new EmulatorTimeout({ waitingFor: options?.label ?? "condition", timeoutMs: Duration.toMillis(timeout) }))
        })
      )
    }

    return {
      reset: Effect.fn("Emulator.reset")(function*() {
        yield* journal.reset
        yield* limits.reset
        yield* faults.reset
        yield* chats.reset
        yield* updates.reset
        yield* files.reset
        yield* bots.reset
      })(),
      limits: Effect.sync(() => limits.current()),
      configureLimits: (patch) => Effect.sync(() => limits.configure(patch)),
      faults: Effect.sync(() => faults.current()),
      configureFaults: (patch) => Effect.sync(() => faults.configure(patch)),
      flood: (options) => Effect.sync(() => limits.flood(options)),
      registerChat: (profile) => Effect.sync(() => chats.register(profile)),
      setChatState: (chatIds, state) => Effect.sync(() => chats.setState(chatIds, state)),
      blockUsers: (chatIds) => Effect.sync(() => chats.setState(chatIds, "blocked")),
      deactivateUsers: (chatIds) => Effect.sync(() => chats.setState(chatIds, "deactivated")),
      injectUpdate: (update, options) => Effect.sync(() => updates.inject(botIdOr(options?.botId), update).update),
      registerFile: (file) => Effect.sync(() => files.register(file)),
      messages: (chatId) => Effect.sync(() => journal.messages(chatId)),
      calls: Effect.sync(() => journal.calls()),
      counters: Effect.sync(() => journal.counters()),
      webhookInfo: (botId) => Effect.sync(() => updates.webhookInfo(botIdOr(botId))),
      bots: Effect.sync(() =>
        bots.known().map((bot) => ({
          id: bot.id,
          token: bot.token,
          username: bot.user.username,
          webhook: updates.webhookInfo(bot.id)
        }))
      ),
      awaitMessages: (chatId, count, options) =>
        waitUntil(
          () => journal.messageCount(chatId) >= count ? journal.messages(chatId) : undefined,
          { ...options, label: `${count} messages in chat ${chatId}` }
        ),
      awaitCalls: (predicate, count = 1, options) =>
        Effect.suspend(() => {
          // Scans only the calls logged since the previous check.
          let seen = 0
          let matching: Array<CallLogEntry> = []
          return waitUntil(() => {
            const fresh = journal.callsSince(seen)
            if (fresh.length === 0 && journal.calls().length === 0 && seen > 0) {
              seen = 0
              matching = []
            }
            for (const call of fresh) {
              seen = call.seq
              if (predicate(call)) matching.push(call)
            }
            return matching.length >= count ? matching : undefined
          }, { ...options, label: `${count} matching calls` })
        }),
      awaitInFlight: (method, count = 1, options) =>
        waitUntil(
          () => (journal.inFlight(method) >= count ? true : undefined),
          { ...options, label: `${count} ${method} calls in flight` }
        ).pipe(Effect.asVoid),
      awaitPendingUpdates: (count = 0, options) =>
        waitUntil(
          () => updates.pendingCount(botIdOr(options?.botId)) <= count ? true : undefined,
          { ...options, label: `at most ${count} pending updates` }
        ).pipe(Effect.asVoid),
      waitUntil
    }
  }))
}
