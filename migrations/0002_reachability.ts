/**
 * Chats the bot can no longer write to (403: blocked by the user, deactivated, kicked). The sender marks them;
 * notifications and mailings skip them; a new `/start` from the chat clears the mark.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`
    ALTER TABLE chats
      ADD COLUMN IF NOT EXISTS unreachable_at     timestamptz,
      ADD COLUMN IF NOT EXISTS unreachable_reason text
  `
})
