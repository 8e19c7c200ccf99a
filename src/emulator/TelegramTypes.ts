/**
 * The JSON shapes the emulator answers with, as documented by the Bot API (only the fields the
 * emulator fills). Inputs are decoded with Schema elsewhere; these types describe outputs.
 */

export type ChatType = "private" | "group" | "supergroup" | "channel"

export interface User {
  readonly id: number
  readonly is_bot: boolean
  readonly first_name: string
  readonly username?: string
  readonly can_join_groups?: boolean
  readonly can_read_all_group_messages?: boolean
  readonly supports_inline_queries?: boolean
}

export interface Chat {
  readonly id: number
  readonly type: ChatType
  readonly title?: string
  readonly username?: string
  readonly first_name?: string
}

export interface PhotoSize {
  readonly file_id: string
  readonly file_unique_id: string
  readonly width: number
  readonly height: number
  readonly file_size: number
}

export interface Document {
  readonly file_id: string
  readonly file_unique_id: string
  readonly file_name?: string
  readonly mime_type?: string
  readonly file_size: number
}

export interface Message {
  readonly message_id: number
  readonly from?: User
  readonly chat: Chat
  readonly date: number
  readonly edit_date?: number
  readonly text?: string
  readonly caption?: string
  readonly photo?: ReadonlyArray<PhotoSize>
  readonly document?: Document
  readonly reply_markup?: unknown
}

export interface File {
  readonly file_id: string
  readonly file_unique_id: string
  readonly file_size: number
  readonly file_path: string
}

export interface BotCommand {
  readonly command: string
  readonly description: string
}

export interface WebhookInfo {
  readonly url: string
  readonly has_custom_certificate: boolean
  readonly pending_update_count: number
  readonly ip_address?: string
  readonly last_error_date?: number
  readonly last_error_message?: string
  readonly max_connections?: number
  readonly allowed_updates?: ReadonlyArray<string>
}

/** An update as stored and delivered: `update_id` plus exactly one payload field. */
export interface Update {
  readonly update_id: number
  readonly [field: string]: unknown
}

/** Update kinds a bot receives unless `allowed_updates` names them (Bot API: opt-in only). */
export const optInUpdateTypes: ReadonlyArray<string> = ["chat_member", "message_reaction", "message_reaction_count"]

/** The payload field of an update (`message`, `callback_query`, ...), if any. */
export const updateType = (update: Update): string | undefined =>
  Object.keys(update).find((key) => key !== "update_id")
