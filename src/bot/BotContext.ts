/**
 * The grammY context the bot's features see: the update, an `api` whose calls go through the `Sender`, the
 * chat's session (loaded by the chat actor, saved when the handler returns) and the chat's texts.
 */
import { Schema } from "effect"
import type { Context } from "grammy"
import type { Language, Texts } from "./texts/index.ts"

export const BotSession = Schema.Struct({
  language: Schema.optional(Schema.Literals(["en", "it"])),
  startedAt: Schema.optional(Schema.Number),
  startPayload: Schema.optional(Schema.String)
})
export type BotSession = typeof BotSession.Type

/** What the features need from the outside world, run as plain promises inside grammY handlers. */
export type BotDeps = {
  readonly recordStart: (chat: { id: number; type: string }, language: string | undefined, payload: string | undefined) => Promise<void>
  readonly publicUrl: string | undefined
}

export type BotContext = Context & {
  session: BotSession
  readonly language: Language
  readonly t: Texts
  readonly deps: BotDeps
}
