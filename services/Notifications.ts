/**
 * From "tell these players" to messages in the outbox: the one path of platform events, direct sends
 * (`/v1/internal/notify`), mailings and reminders.
 *
 * A target is a platform user (every chat linked to it) or a chat. A target is skipped, and counted, when:
 * - `unlinked`: the platform user has no linked Telegram account with a chat;
 * - `no_consent`: the template needs a consent (tournaments, promotions, payouts) the player has off;
 *   transactional templates (KYC status) and reminders the player asked for need none;
 * - `unreachable`: the chat blocked the bot (a 403 marked it; starting the bot again clears it);
 * - `unknown_chat`: a chat target the bot never talked with.
 * Identities and chats are read at every call (no cache): an unlink or a withdrawn consent stops the very next
 * notification. Each message is written in the player's language (chosen in the bot's settings, else Telegram's
 * `language_code`) and queued with an idempotency key derived from the caller's, so a notification handled twice
 * (an event delivered again, a retried request) sends once.
 */
import { Context, Effect, Layer, Metric } from "effect"
import type * as Redis from "effect/persistence/Redis"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Metrics from "../src/metrics.ts"
import { languageOf } from "../src/bot/texts/index.ts"
import type { Prepared } from "../src/notify/Templates.ts"
import { traceparentOf } from "../layers/Telemetry.ts"
import { Outbox, type OutboxMessage, type QueuedLane } from "../streams/Outbox.ts"

export type Target = { readonly userId: string } | { readonly chatId: number }

export type SkipReason = "unlinked" | "no_consent" | "unreachable" | "unknown_chat"

/** What became of one target: the chats a message was queued for, or why none was. */
export type Delivery =
  | { readonly target: Target; readonly queued: ReadonlyArray<number> }
  | { readonly target: Target; readonly skipped: SkipReason }

export type Notification = {
  readonly prepared: Prepared
  readonly targets: ReadonlyArray<Target>
  /**
   * The caller's idempotency key: each message's key is `<key>:<chat>`, so the same notification handled again
   * sends nothing new. Distinct notifications need distinct keys.
   */
  readonly idempotencyKey: string
  readonly lane: QueuedLane
  /** The player asked for this message (a reminder): no consent needed, only a linked, reachable chat. */
  readonly requested?: boolean
  /** A receipt per target, told the outcome of its messages (a mailing's recipient). */
  readonly receiptOf?: (target: Target) => string
  /** Not sent after this instant (ms since the epoch), however long the messages wait (a reminder: the start). */
  readonly notAfter?: number
}

export class Notifications extends Context.Service<Notifications, {
  readonly notify: (notification: Notification) => Effect.Effect<ReadonlyArray<Delivery>, SqlError | Redis.RedisError>
}>()("tg-gateway/services/Notifications") {
  static readonly layer = Layer.effect(Notifications)(
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const outbox = yield* Outbox

      /** Every linked chat of these platform users, with consents, language and reachability. */
      const byUser = (userIds: ReadonlyArray<string>) =>
        userIds.length === 0 ? Effect.succeed([] as ReadonlyArray<ChatRow>) : sql<ChatRow>`
          SELECT 'u:' || i.platform_user_id AS key, i.chat_id, i.language, i.language_code,
                 i.consent_promotions, i.consent_tournaments, i.consent_payouts,
                 c.unreachable_at IS NOT NULL AS unreachable
          FROM identities i LEFT JOIN chats c ON c.chat_id = i.chat_id
          WHERE i.platform_user_id IN ${sql.in(userIds)} AND i.chat_id IS NOT NULL
        `

      /**
       * Chats by id: the player's identity when there is one (consents, language); else the chat as the bot knows
       * it, with the consents a new player starts with. Groups need no consent: someone added the bot there.
       */
      const byChat = (chatIds: ReadonlyArray<number>) =>
        chatIds.length === 0 ? Effect.succeed([] as ReadonlyArray<ChatRow>) : sql<ChatRow>`
          SELECT 'c:' || c.chat_id AS key, c.chat_id, i.language, COALESCE(i.language_code, c.language_code) AS language_code,
                 COALESCE(i.consent_promotions, c.chat_id < 0) AS consent_promotions,
                 COALESCE(i.consent_tournaments, c.chat_id < 0) AS consent_tournaments,
                 COALESCE(i.consent_payouts, true) AS consent_payouts,
                 c.unreachable_at IS NOT NULL AS unreachable
          FROM chats c LEFT JOIN identities i ON i.chat_id = c.chat_id
          WHERE c.chat_id IN ${sql.in(chatIds)}
          UNION ALL
          SELECT 'c:' || i.chat_id, i.chat_id, i.language, i.language_code,
                 i.consent_promotions, i.consent_tournaments, i.consent_payouts, false
          FROM identities i
          WHERE i.chat_id IN ${sql.in(chatIds)} AND NOT EXISTS (SELECT 1 FROM chats c WHERE c.chat_id = i.chat_id)
        `

      const notify = Effect.fn("Notifications.notify")(function*(n: Notification) {
        const userIds = [...new Set(n.targets.flatMap((t) => "userId" in t ? [t.userId] : []))]
        const chatIds = [...new Set(n.targets.flatMap((t) => "chatId" in t ? [t.chatId] : []))]
        const [users, chats] = yield* Effect.all([byUser(userIds), byChat(chatIds)], { concurrency: 2 })
        const rows = new Map<string, Array<ChatRow>>()
        for (const row of [...users, ...chats]) {
          const list = rows.get(row.key)
          if (list === undefined) rows.set(row.key, [row])
          else if (!list.some((r) => String(r.chat_id) === String(row.chat_id))) list.push(row)
        }
        const traceparent = yield* traceparentOf
        const messages: Array<OutboxMessage> = []
        const deliveries = n.targets.map((target): Delivery => {
          const found = rows.get("userId" in target ? `u:${target.userId}` : `c:${target.chatId}`) ?? []
          if (found.length === 0) return { target, skipped: "userId" in target ? "unlinked" : "unknown_chat" }
          const consenting = n.requested === true || n.prepared.consent === undefined
            ? found
            : found.filter((row) => row[`consent_${n.prepared.consent!}`])
          if (consenting.length === 0) return { target, skipped: "no_consent" }
          const reachable = consenting.filter((row) => !row.unreachable)
          if (reachable.length === 0) return { target, skipped: "unreachable" }
          const receipt = n.receiptOf?.(target)
          for (const row of reachable) {
            const chatId = Number(row.chat_id)
            messages.push({
              lane: n.lane,
              chatId,
              method: "sendMessage",
              params: n.prepared.message(chatId, languageOf(row.language ?? undefined, row.language_code ?? undefined)),
              idempotencyKey: `${n.idempotencyKey}:${chatId}`,
              traceparent,
              receipt,
              notAfter: n.notAfter,
              // Still linked, still consenting, when its turn comes: checked again just before it is sent.
              ...("userId" in target
                ? { guard: n.requested === true || n.prepared.consent === undefined ? { user: target.userId } : { user: target.userId, consent: n.prepared.consent } }
                : {})
            })
          }
          return { target, queued: reachable.map((row) => Number(row.chat_id)) }
        })
        yield* outbox.enqueueAll(messages)
        const counts = new Map<string, number>()
        for (const d of deliveries) {
          const result = "skipped" in d ? d.skipped : "queued"
          counts.set(result, (counts.get(result) ?? 0) + ("skipped" in d ? 1 : d.queued.length))
        }
        for (const [result, count] of counts) yield* Metric.update(Metrics.notifications(n.prepared.template, result), count)
        return deliveries
      })

      return { notify }
    })
  )
}

type ChatRow = {
  readonly key: string
  readonly chat_id: string | number
  readonly language: string | null
  readonly language_code: string | null
  readonly consent_promotions: boolean
  readonly consent_tournaments: boolean
  readonly consent_payouts: boolean
  readonly unreachable: boolean
}
