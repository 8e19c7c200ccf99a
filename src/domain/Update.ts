/**
 * What the pipeline needs to know of a Telegram `Update` to route it: its `update_id` and the chat whose actor
 * must handle it. Everything else stays in the raw JSON, which travels untouched to the handler.
 *
 * Telegram serialises deliveries per chat for messages but per user for callback and inline queries, so a
 * callback query is routed to the chat of the message its button is on: one actor then orders both.
 *
 * An update carries `update_id` and exactly one optional field naming its kind, so routing decodes
 * `update_id` with the schema of that one kind (on the webhook's hot path, a schema of every kind at once costs
 * more than parsing the JSON). Unknown kinds still route, to chat 0.
 */
import { Option, Schema } from "effect"

const Id = Schema.Number.check(Schema.isInt())
const UpdateId = Id.check(Schema.isGreaterThanOrEqualTo(0))
const WithChat = Schema.Struct({ chat: Schema.Struct({ id: Id }) })
const WithFrom = Schema.Struct({ from: Schema.Struct({ id: Id }) })
const WithUser = Schema.Struct({ user: Schema.Struct({ id: Id }) })
const CallbackQuery = Schema.Struct({
  from: Schema.Struct({ id: Id }),
  message: Schema.optional(WithChat)
})

type Kind = { readonly schema: Schema.Codec<any, any>; readonly chatOf: (value: any) => number }
const byChat: Kind = { schema: WithChat, chatOf: (v: typeof WithChat.Type) => v.chat.id }
const byFrom: Kind = { schema: WithFrom, chatOf: (v: typeof WithFrom.Type) => v.from.id }

/** Each kind of update the Bot API sends, and where its chat is. */
const kinds: Readonly<Record<string, Kind>> = {
  message: byChat,
  edited_message: byChat,
  channel_post: byChat,
  edited_channel_post: byChat,
  business_message: byChat,
  edited_business_message: byChat,
  message_reaction: byChat,
  message_reaction_count: byChat,
  my_chat_member: byChat,
  chat_member: byChat,
  chat_join_request: byChat,
  chat_boost: byChat,
  removed_chat_boost: byChat,
  callback_query: {
    schema: CallbackQuery,
    chatOf: (v: typeof CallbackQuery.Type) => v.message?.chat.id ?? v.from.id
  },
  inline_query: byFrom,
  chosen_inline_result: byFrom,
  shipping_query: byFrom,
  pre_checkout_query: byFrom,
  purchased_paid_media: byFrom,
  poll_answer: { schema: WithUser, chatOf: (v: typeof WithUser.Type) => v.user.id }
}

export type ParsedUpdate = { readonly updateId: number; readonly chatId: number }

const decodeUpdateId = Schema.decodeUnknownOption(Schema.Struct({ update_id: UpdateId }))
const decoders = new Map(
  Object.entries(kinds).map(([name, kind]) => {
    const decode = Schema.decodeUnknownOption(Schema.Struct({ update_id: UpdateId, [name]: kind.schema }))
    return [name, (json: unknown): Option.Option<ParsedUpdate> =>
      Option.map(decode(json), (u: any) => ({ updateId: u.update_id, chatId: kind.chatOf(u[name]) }))] as const
  })
)

/** The routing view of an already parsed JSON value: `None` when it is not an update. */
export const routeUpdate = (json: unknown): Option.Option<ParsedUpdate> => {
  if (json !== null && typeof json === "object" && !Array.isArray(json)) {
    for (const key in json) {
      const decode = decoders.get(key)
      if (decode !== undefined) return decode(json)
    }
  }
  return Option.map(decodeUpdateId(json), (u) => ({ updateId: u.update_id, chatId: 0 }))
}

/** Parses a raw body: `None` when it is not JSON or not an update. */
export const parseUpdate = (raw: string): Option.Option<ParsedUpdate> | "malformed" => {
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return "malformed"
  }
  return routeUpdate(json)
}
