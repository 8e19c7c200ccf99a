/**
 * Chats the bot has talked with: first and last contact, type and language. The worker records a chat on
 * `/start`; later issues key identities, consents and mailings on it.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS chats (
      chat_id        bigint PRIMARY KEY,
      chat_type      text NOT NULL,
      language_code  text,
      start_payload  text,
      first_seen_at  timestamptz NOT NULL DEFAULT now(),
      last_seen_at   timestamptz NOT NULL DEFAULT now()
    )
  `
})
