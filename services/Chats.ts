/**
 * Chats the bot has talked with, in Postgres. `recordStart` is idempotent: replaying an update changes
 * nothing but `last_seen_at`, and the first deep-link payload a chat arrived with is kept (first touch wins).
 */
import { Context, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

export class Chats extends Context.Service<Chats, {
  readonly recordStart: (start: {
    readonly chatId: number
    readonly chatType: string
    readonly languageCode: string | undefined
    readonly payload: string | undefined
  }) => Effect.Effect<void, SqlError>
}>()("tg-gateway/services/Chats") {
  static readonly layer = Layer.effect(Chats)(
    Effect.gen(function*() {
      const sql = yield* SqlClient
      return {
        recordStart: Effect.fn("Chats.recordStart")(function*(start) {
          yield* sql`
            INSERT INTO chats (chat_id, chat_type, language_code, start_payload)
            VALUES (${start.chatId}, ${start.chatType}, ${start.languageCode ?? null}, ${start.payload ?? null})
            ON CONFLICT (chat_id) DO UPDATE SET
              chat_type = EXCLUDED.chat_type,
              language_code = COALESCE(EXCLUDED.language_code, chats.language_code),
              start_payload = COALESCE(chats.start_payload, EXCLUDED.start_payload),
              last_seen_at = now()
          `
        })
      }
    })
  )
}
