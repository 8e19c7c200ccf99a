/**
 * The emulator for plain Node scripts (benchmarks, ad-hoc rehearsals): `startEmulator` starts an
 * instance and returns its URL, `close`, and each control operation as a Promise.
 */
import { Effect, ManagedRuntime } from "effect"
import type { ChatProfile, ChatState } from "./Chats.ts"
import type { EmulatorView, InjectOptions, UpdateInput, WaitOptions } from "./Control.ts"
import { Emulator, type EmulatorApi } from "./Emulator.ts"
import type { FileInput, StoredFile } from "./Files.ts"
import type { CallLogEntry, Counters, MessageLogEntry } from "./Journal.ts"
import type { FloodOptions } from "./Limits.ts"
import type { EmulatorOptions, FaultSettings, RateLimits } from "./Options.ts"
import type { Update, WebhookInfo } from "./TelegramTypes.ts"

export interface EmulatorHandle {
  readonly url: string
  readonly token: string
  readonly botId: number
  /** Stops the server and webhook delivery. */
  readonly close: () => Promise<void>
  readonly reset: () => Promise<void>
  readonly configureLimits: (patch: Partial<RateLimits>) => Promise<RateLimits>
  readonly configureFaults: (patch: Partial<FaultSettings>) => Promise<FaultSettings>
  readonly flood: (options: FloodOptions) => Promise<void>
  readonly registerChat: (profile: ChatProfile) => Promise<void>
  readonly setChatState: (chatIds: ReadonlyArray<number>, state: ChatState) => Promise<void>
  readonly blockUsers: (chatIds: ReadonlyArray<number>) => Promise<void>
  readonly deactivateUsers: (chatIds: ReadonlyArray<number>) => Promise<void>
  readonly injectUpdate: (update: UpdateInput, options?: InjectOptions) => Promise<Update>
  readonly registerFile: (file: FileInput) => Promise<StoredFile>
  readonly messages: (chatId?: number) => Promise<ReadonlyArray<MessageLogEntry>>
  readonly calls: () => Promise<ReadonlyArray<CallLogEntry>>
  readonly counters: () => Promise<Counters>
  readonly webhookInfo: (botId?: number) => Promise<WebhookInfo>
  readonly awaitMessages: (chatId: number, count: number, options?: WaitOptions) => Promise<ReadonlyArray<MessageLogEntry>>
  readonly awaitCalls: (
    predicate: (call: CallLogEntry) => boolean,
    count?: number,
    options?: WaitOptions
  ) => Promise<ReadonlyArray<CallLogEntry>>
  readonly awaitInFlight: (method: string, count?: number, options?: WaitOptions) => Promise<void>
  readonly awaitPendingUpdates: (count?: number, options?: WaitOptions & InjectOptions) => Promise<void>
  /** Resolves with the first value `poll` returns other than `undefined`, re-checked on every change. */
  readonly waitUntil: <A>(poll: (view: EmulatorView) => A | undefined, options?: WaitOptions) => Promise<A>
  /** The Effect API, for callers that run Effects themselves. */
  readonly api: EmulatorApi
}

export const startEmulator = async (options?: EmulatorOptions): Promise<EmulatorHandle> => {
  const runtime = ManagedRuntime.make(Emulator.layer(options))
  const api = await runtime.runPromise(Emulator)
  const run = <A, E>(effect: Effect.Effect<A, E>) => runtime.runPromise(effect)
  return {
    url: api.url,
    token: api.token,
    botId: api.botId,
    close: () => runtime.dispose(),
    reset: () => run(api.reset),
    configureLimits: (patch) => run(api.configureLimits(patch)),
    configureFaults: (patch) => run(api.configureFaults(patch)),
    flood: (flood) => run(api.flood(flood)),
    registerChat: (profile) => run(api.registerChat(profile)),
    setChatState: (chatIds, state) => run(api.setChatState(chatIds, state)),
    blockUsers: (chatIds) => run(api.blockUsers(chatIds)),
    deactivateUsers: (chatIds) => run(api.deactivateUsers(chatIds)),
    injectUpdate: (update, inject) => run(api.injectUpdate(update, inject)),
    registerFile: (file) => run(api.registerFile(file)),
    messages: (chatId) => run(api.messages(chatId)),
    calls: () => run(api.calls),
    counters: () => run(api.counters),
    webhookInfo: (botId) => run(api.webhookInfo(botId)),
    awaitMessages: (chatId, count, wait) => run(api.awaitMessages(chatId, count, wait)),
    awaitCalls: (predicate, count, wait) => run(api.awaitCalls(predicate, count, wait)),
    awaitInFlight: (method, count, wait) => run(api.awaitInFlight(method, count, wait)),
    awaitPendingUpdates: (count, wait) => run(api.awaitPendingUpdates(count, wait)),
    waitUntil: (poll, wait) => run(api.waitUntil(poll, wait)),
    api
  }
}
