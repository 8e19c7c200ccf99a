/**
 * The shape of a Bot API method in the emulator: its name, whether it is a sending method (rate
 * limits, forced floods and by default faults apply), and how it answers a call.
 */
import type { Effect } from "effect"
import type { BotApiError } from "../BotApiError.ts"
import type { Bot } from "../Bots.ts"
import type { Params } from "../params/Params.ts"

/** A file part of a multipart request. */
export interface Upload {
  readonly fileName: string
  readonly contentType: string
  readonly content: Uint8Array
}

export interface Call {
  readonly bot: Bot
  readonly method: string
  readonly params: Params
  readonly uploads: ReadonlyMap<string, Upload>
  /** Unix ms, sub-ms precision. */
  readonly receivedAt: number
  /** `params` with uploads described as `{ file, size }`, for the logs. */
  readonly loggedParams: Params
}

/** A successful answer; `description` is sent next to `result` (setWebhook does that). */
export interface Reply {
  readonly result: unknown
  readonly description?: string
}

export interface Method {
  readonly name: string
  readonly sending: boolean
  readonly run: (call: Call) => Effect.Effect<Reply, BotApiError>
}

export const reply = (result: unknown, description?: string): Reply =>
  description === undefined ? { result } : { result, description }
