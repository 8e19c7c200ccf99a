/**
 * Support tickets opened from the bot (`services/SupportTickets.ts`): who opened it (Telegram user, chat, linked
 * platform account if any), the player's description, and its state. The description may hold personal data
 * the player chose to write: it is kept here and handed to the platform's support, never logged.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS support_tickets (
      id                bigserial PRIMARY KEY,
      telegram_user_id  bigint NOT NULL,
      chat_id           bigint NOT NULL,
      platform_user_id  text,
      description       text NOT NULL,
      status            text NOT NULL DEFAULT 'open',
      source            text NOT NULL,
      created_at        timestamptz NOT NULL DEFAULT now(),
      UNIQUE (source)
    )
  `
  yield* sql`CREATE INDEX IF NOT EXISTS support_tickets_user ON support_tickets (telegram_user_id, created_at)`
})
