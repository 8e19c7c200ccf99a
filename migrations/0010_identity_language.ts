/**
 * The language a player chose in the bot's settings, kept with the identity so notifications are written in it
 * (before, only the chat's session knew it). `NULL`: not chosen; Telegram's `language_code` decides.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`ALTER TABLE identities ADD COLUMN IF NOT EXISTS language text CHECK (language IN ('en', 'it'))`
  yield* sql`CREATE INDEX IF NOT EXISTS identities_chat ON identities (chat_id) WHERE chat_id IS NOT NULL`
})
