/**
 * A handler for pipeline tests: appends each `update_id` to the chat's session (so what a chat saw is durable,
 * exactly-once state), optionally replies through the `Sender` (an observable effect at the Bot API), and
 * fails on chosen updates.
 */
import { Effect, Layer } from "effect"
import { HandlerError, UpdateHandler } from "../../services/UpdateHandler.ts"

export type RecordingOptions = {
  readonly reply?: boolean
  /** Updates whose handler always throws. */
  readonly poison?: ReadonlySet<number>
  readonly onPoison?: (updateId: number) => void
  /** Simulated work per update. */
  readonly workMs?: number
  readonly onStart?: (chatId: number, updateId: number) => void
  readonly onHandled?: (chatId: number, updateId: number) => void
}

export const seenOf = (session: Record<string, unknown>): ReadonlyArray<number> =>
  Array.isArray(session.seen) ? session.seen as ReadonlyArray<number> : []

export const recordingHandler = (options: RecordingOptions = {}) =>
  Layer.succeed(UpdateHandler)({
    handle: (input) =>
      Effect.gen(function*() {
        const updateId = input.update.update_id
        options.onStart?.(input.chatId, updateId)
        if (options.poison?.has(updateId)) {
          options.onPoison?.(updateId)
          return yield* new HandlerError({ message: `poison update ${updateId}` })
        }
        if (options.workMs !== undefined) yield* Effect.sleep(options.workMs)
        if (options.reply === true) {
          yield* input.outbound("sendMessage", { chat_id: input.chatId, text: `ack ${updateId}` }).pipe(
            Effect.mapError((error) => new HandlerError({ message: String(error) }))
          )
        }
        options.onHandled?.(input.chatId, updateId)
        return { ...input.session, seen: [...seenOf(input.session), updateId] }
      })
  })
