/**
 * What Telegram signs when a user opens the Mini App (`initData`) or signs in with the Login Widget, decoded
 * with Schema, and the one error every failed check ends in. The checks themselves are in
 * `services/InitDataVerifier.ts` and `services/LoginWidgetVerifier.ts`.
 */
import { Schema } from "effect"

/** Why a sign-in was refused; the `code` is the contract's error code, the HTTP answer is 401. */
export const authFailures = [
  "missing_hash",
  "missing_signature",
  "invalid_signature",
  "expired",
  "from_future",
  "malformed",
  "duplicate_key"
] as const
export type AuthFailure = (typeof authFailures)[number]

export class AuthError extends Schema.TaggedError<AuthError>()("AuthError", {
  code: Schema.Literals(authFailures),
  message: Schema.String
}) {}

export const refuse = (code: AuthFailure, message: string): AuthError => new AuthError({ code, message })

const Id = Schema.Int
const OptionalString = Schema.optional(Schema.String)
const OptionalBoolean = Schema.optional(Schema.Boolean)

/** `WebAppUser`: the user who opened the Mini App, or the `receiver` of a private chat it was opened in. */
export const WebAppUser = Schema.Struct({
  id: Id,
  is_bot: OptionalBoolean,
  first_name: Schema.String,
  last_name: OptionalString,
  username: OptionalString,
  language_code: OptionalString,
  is_premium: OptionalBoolean,
  added_to_attachment_menu: OptionalBoolean,
  allows_write_to_pm: OptionalBoolean,
  photo_url: OptionalString
})
export type WebAppUser = typeof WebAppUser.Type

/** `WebAppChat`: the group or channel the Mini App was opened from (attachment menu). */
export const WebAppChat = Schema.Struct({
  id: Id,
  type: Schema.String,
  title: Schema.String,
  username: OptionalString,
  photo_url: OptionalString
})
export type WebAppChat = typeof WebAppChat.Type

/** Telegram allows `A-Za-z0-9_-`, at most 512 characters, in a `startapp` parameter. */
export const StartParam = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,512}$/))

/** Verified `initData`, its JSON fields decoded. */
export type InitData = {
  readonly authDate: number
  readonly user?: WebAppUser
  readonly receiver?: WebAppUser
  readonly chat?: WebAppChat
  readonly chatType?: string
  readonly chatInstance?: string
  readonly startParam?: string
  readonly queryId?: string
  readonly canSendAfter?: number
}

/** The Login Widget's fields (its callback or redirect parameters). */
export const LoginWidgetData = Schema.Struct({
  id: Id,
  first_name: Schema.String,
  last_name: OptionalString,
  username: OptionalString,
  photo_url: OptionalString,
  auth_date: Id,
  hash: Schema.String
})
export type LoginWidgetData = typeof LoginWidgetData.Type
