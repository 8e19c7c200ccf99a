/**
 * Support tickets opened by players in the bot. A ticket is written once per source (the update that carried
 * the description), so a handler that runs again opens nothing twice; the platform's support learns of it by a
 * `support_ticket_opened` event on `gateway:events` (with the ticket id, not the text: support reads the text
 * from the gateway's API or database, so it never sits in a stream).
 */
import { Context, Effect, Layer } from "effect"
import type * as Redis from "effect/persistence/Redis"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { GatewayEvents } from "./GatewayEvents.ts"

/** What a ticket may hold: one message, as Telegram allows (4096 characters), trimmed. */
export const maxDescription = 4000

export class SupportTickets extends Context.Service<SupportTickets, {
  readonly open: (ticket: {
    readonly telegramUserId: number
    readonly chatId: number
    readonly platformUserId: string | null
    readonly description: string
    /** The update (or request) it came from: the same source opens the same ticket. */
    readonly source: string
  }) => Effect.Effect<number, SqlError | Redis.RedisError>
}>()("tg-gateway/services/SupportTickets") {
  static readonly layer = Layer.effect(SupportTickets)(
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const events = yield* GatewayEvents
      return {
        open: Effect.fn("SupportTickets.open")(function*(ticket) {
          const rows = yield* sql<{ id: string }>`
            INSERT INTO support_tickets (telegram_user_id, chat_id, platform_user_id, description, source)
            VALUES (${ticket.telegramUserId}, ${ticket.chatId}, ${ticket.platformUserId},
                    ${ticket.description.slice(0, maxDescription)}, ${ticket.source})
            ON CONFLICT (source) DO UPDATE SET source = EXCLUDED.source
            RETURNING id
          `
          const id = Number(rows[0]!.id)
          yield* events.publish(`ticket:${id}`, {
            type: "support_ticket_opened",
            ticket_id: id,
            telegram_user_id: ticket.telegramUserId,
            platform_user_id: ticket.platformUserId
          })
          return id
        })
      }
    })
  )
}
