/**
 * Chats the bot has talked with, in Postgres. `recordStart` is idempotent: replaying an update changes
 * nothing but `last_seen_at`. (Deep-link payloads are tokens: they are resolved by `DeepLinks`, never stored here.)
 * A chat that answered 403 is marked unreachable until it starts the bot again.
 */
import { Context, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

export class Chats extends Context.Service<Chats, {
  readonly recordStart: (start: {
    readonly chatId: number
    readonly chatType: string
    readonly languageCode: string | undefined
  }) => Effect.Effect<void, SqlError>
  /** After a 403: the bot cannot write to this chat until it starts the bot again. */
  readonly markUnreachable: (chatId: number, reason: string) => Effect.Effect<void, SqlError>
  /** The chats among `chatIds` marked unreachable. */
  readonly unreachable: (chatIds: ReadonlyArray<number>) => Effect.Effect<ReadonlySet<number>, SqlError>
}>()("tg-gateway/services/Chats") {
  static readonly layer = Layer.effect(Chats)(
    Effect.gen(function*() {
      const sql = yield* SqlClient
      return {
        recordStart: Effect.fn("Chats.recordStart")(function*(start) {
          yield* sql`
            INSERT INTO chats (chat_id, chat_type, language_code)
            VALUES (${start.chatId}, ${start.chatType}, ${start.languageCode ?? null})
            ON CONFLICT (chat_id) DO UPDATE SET
              chat_type = EXCLUDED.chat_type,
              language_code = COALESCE(EXCLUDED.language_code, chats.language_code),
              last_seen_at = now(),
              unreachable_at = NULL,
              unreachable_reason = NULL
          `
        }),
        markUnreachable: Effect.fn("Chats.markUnreachable")(function*(chatId, reason) {
          yield* sql`
            INSERT INTO chats (chat_id, chat_type, unreachable_at, unreachable_reason)
            VALUES (${chatId}, ${chatId < 0 ? "group" : "private"}, now(), ${reason})
            ON CONFLICT (chat_id) DO UPDATE SET
              unreachable_at = now(),
              unreachable_reason = EXCLUDED.unreachable_reason
          `
        }),
        unreachable: Effect.fn("Chats.unreachable")(function*(chatIds) {
          if (chatIds.length === 0) return new Set<number>()
          const rows = yield* sql<{ chat_id: string }>`
            SELECT chat_id FROM chats WHERE chat_id IN ${sql.in(chatIds)} AND unreachable_at IS NOT NULL
          `
          return new Set(rows.map((r) => Number(r.chat_id)))
        })
      }
    })
  )
}
