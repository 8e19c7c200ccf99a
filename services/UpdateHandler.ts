/**
 * What a chat actor runs for each update: the update, the chat's session, and an `outbound` bound to this
 * update (each call gets the idempotency key `<update_id>:<n>`, so a re-run sends nothing twice). It answers
 * with the chat's next session. The bot's grammY Composer is the production implementation (`src/bot/`).
 */
import { Context, Effect, Schema } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { Session } from "./ChatState.ts"
import type { SendError } from "./Sender.ts"

export type Outbound = (
  method: string,
  params: Readonly<Record<string, unknown>>
) => Effect.Effect<unknown, SendError | Redis.RedisError>

export type HandlerInput = {
  readonly update: Readonly<Record<string, unknown>> & { readonly update_id: number }
  readonly chatId: number
  readonly session: Session
  readonly outbound: Outbound
}

/** The handler failed; the actor retries it with backoff, then dead-letters the update with this message. */
export class HandlerError extends Schema.TaggedError<HandlerError>()("HandlerError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

export class UpdateHandler extends Context.Service<UpdateHandler, {
  readonly handle: (input: HandlerInput) => Effect.Effect<Session, HandlerError>
}>()("tg-gateway/services/UpdateHandler") {}
