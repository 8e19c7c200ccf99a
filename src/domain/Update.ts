/**
 * What the pipeline needs to know of a Telegram `Update` to route it: its `update_id` and the chat whose actor
 * must handle it. Everything else stays in the raw JSON, which travels untouched to the handler.
 *
 * Telegram serialises deliveries per chat for messages but per user for callback and inline queries, so a
 * callback query is routed to the chat of the message its button is on: one actor then orders both.
 */
import { Option, Schema } from "effect"

const Id = Schema.Number.check(Schema.isInt())
const WithChat = Schema.Struct({ chat: Schema.Struct({ id: Id }) })
const WithFrom = Schema.Struct({ from: Schema.Struct({ id: Id }) })
const WithUser = Schema.Struct({ user: Schema.Struct({ id: Id }) })

/** The routing view of an update; unknown update kinds still route (to their sender, or to chat 0). */
export const UpdateRouting = Schema.Struct({
  update_id: Id.check(Schema.isGreaterThanOrEqualTo(0)),
  message: Schema.optional(WithChat),
  edited_message: Schema.optional(WithChat),
  channel_post: Schema.optional(WithChat),
  edited_channel_post: Schema.optional(WithChat),
  business_message: Schema.optional(WithChat),
  edited_business_message: Schema.optional(WithChat),
  message_reaction: Schema.optional(WithChat),
  message_reaction_count: Schema.optional(WithChat),
  my_chat_member: Schema.optional(WithChat),
  chat_member: Schema.optional(WithChat),
  chat_join_request: Schema.optional(WithChat),
  chat_boost: Schema.optional(WithChat),
  removed_chat_boost: Schema.optional(WithChat),
  callback_query: Schema.optional(Schema.Struct({
    from: Schema.Struct({ id: Id }),
    message: Schema.optional(WithChat)
  })),
  inline_query: Schema.optional(WithFrom),
  chosen_inline_result: Schema.optional(WithFrom),
  shipping_query: Schema.optional(WithFrom),
  pre_checkout_query: Schema.optional(WithFrom),
  purchased_paid_media: Schema.optional(WithFrom),
  poll_answer: Schema.optional(WithUser)
})
export type UpdateRouting = typeof UpdateRouting.Type

/** Decodes the routing view of an already parsed JSON value. */
export const decodeRouting = Schema.decodeUnknownOption(UpdateRouting)

/** The chat id whose actor handles this update (a private chat's id equals its user's id). */
export const chatIdOf = (u: UpdateRouting): number => {
  const chat = u.message ?? u.edited_message ?? u.channel_post ?? u.edited_channel_post ?? u.business_message ??
    u.edited_business_message ?? u.message_reaction ?? u.message_reaction_count ?? u.my_chat_member ??
    u.chat_member ?? u.chat_join_request ?? u.chat_boost ?? u.removed_chat_boost ?? u.callback_query?.message
  if (chat !== undefined) return chat.chat.id
  const from = u.callback_query ?? u.inline_query ?? u.chosen_inline_result ?? u.shipping_query ??
    u.pre_checkout_query ?? u.purchased_paid_media
  if (from !== undefined) return from.from.id
  return u.poll_answer?.user.id ?? 0
}

export type ParsedUpdate = { readonly updateId: number; readonly chatId: number }

/** Parses a raw body: `None` when it is not JSON or not an update. */
export const parseUpdate = (raw: string): Option.Option<ParsedUpdate> | "malformed" => {
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return "malformed"
  }
  return Option.map(decodeRouting(json), (u) => ({ updateId: u.update_id, chatId: chatIdOf(u) }))
}
