/**
 * The emulator's public surface: the in-process service, the Promise API for scripts, options,
 * update builders, and the types of what it logs and counts.
 */
export { BotApiError } from "./BotApiError.ts"
export type { ChatProfile, ChatState } from "./Chats.ts"
export type { BotSummary, ControlApi, EmulatorView, InjectOptions, UpdateInput, WaitOptions } from "./Control.ts"
export { EmulatorTimeout } from "./Control.ts"
export { Emulator, type EmulatorApi } from "./Emulator.ts"
export type { FileInput, StoredFile } from "./Files.ts"
export type { CallLogEntry, Counters, MessageLogEntry } from "./Journal.ts"
export type { FloodOptions } from "./Limits.ts"
export {
  defaultToken,
  type EmulatorOptions,
  type FaultSettings,
  noFaults,
  type RateLimits,
  telegramLimits,
  unlimited,
  type WebhookSettings
} from "./Options.ts"
export { type EmulatorHandle, startEmulator } from "./startEmulator.ts"
export type * from "./TelegramTypes.ts"
export * as UpdateBuilders from "./UpdateBuilders.ts"
