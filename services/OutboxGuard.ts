/**
 * The last look before a queued notification goes out: is the player still linked to the chat it was queued for,
 * and does the player still accept its kind? A message can wait in the outbox for a while (a mailing's wave, a
 * backlog at Telegram's 30 messages/s), and an unlink or a withdrawn consent must stop it, not only the next
 * one. One indexed read per message, at the sender's pace.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { type ConsentType, consentTypes } from "./Identity.ts"

/** What a queued message requires at sending time: the chat still linked to `user`, with `consent` on. */
export const Guard = Schema.Struct({
  user: Schema.String,
  consent: Schema.optional(Schema.Literals(consentTypes))
})
export type Guard = typeof Guard.Type
export const decodeGuard = Schema.decodeUnknownOption(Schema.fromJsonString(Guard))

/** Why a queued message may no longer be sent: the chat is no longer linked to the player, or the consent is off. */
export type Withdrawn = "unlinked" | "no_consent"

export class OutboxGuard extends Context.Service<OutboxGuard, {
  /** `undefined`: still wanted; otherwise why not. */
  readonly check: (chatId: number, guard: Guard) => Effect.Effect<Withdrawn | undefined, SqlError>
}>()("tg-gateway/services/OutboxGuard") {
  static readonly layer = Layer.effect(OutboxGuard)(
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const check = Effect.fn("OutboxGuard.check")(function*(chatId: number, guard: Guard) {
        const rows = yield* sql<Record<`consent_${ConsentType}`, boolean>>`
          SELECT consent_promotions, consent_tournaments, consent_payouts FROM identities
          WHERE chat_id = ${chatId} AND platform_user_id = ${guard.user}
        `
        if (rows.length === 0) return "unlinked" as const
        return rows.some((row) => guard.consent === undefined || row[`consent_${guard.consent}`]) ? undefined : "no_consent" as const
      })
      return { check }
    })
  )
}
