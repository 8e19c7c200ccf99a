/**
 * Callback data of inline buttons: `v1:<section>:<action>`, or `v1:<section>:<action>:<argument>` for a button
 * about one thing (a tournament), at most 64 bytes, decoded with Schema. The version prefix lets a deploy change
 * the layout: buttons from an older layout decode to `None` and get a soft answer.
 *
 * An argument names a platform id: the id itself when it is plain (`A-Za-z0-9_.-`) and fits, else `~` and 16
 * characters of its SHA-256 (base64url), matched against the ids at hand (`idMatches`). Ids are up to 128
 * characters of anything printable, which a 64-byte button could not carry.
 */
import { Option, Schema } from "effect"
import * as Crypto from "node:crypto"

export const version = "v1"

export const Section = Schema.Literals(["profile", "tournaments", "bonuses", "support", "link", "settings"])
export type Section = typeof Section.Type

const CallbackData = Schema.Struct({
  version: Schema.Literal(version),
  section: Section,
  action: Schema.String.check(Schema.isPattern(/^[a-z_]{1,32}$/))
})
export type CallbackData = typeof CallbackData.Type

const CallbackDataWithId = Schema.Struct({
  ...CallbackData.fields,
  arg: Schema.String.check(Schema.isPattern(/^(~[A-Za-z0-9_-]{16}|[A-Za-z0-9_.-]{1,54})$/))
})
export type CallbackDataWithId = typeof CallbackDataWithId.Type

const decode = Schema.decodeUnknownOption(CallbackData)
const decodeWithId = Schema.decodeUnknownOption(CallbackDataWithId)

const maxBytes = 64

export const encode = (section: Section, action: string): string => `${version}:${section}:${action}`

/** A button about the thing with this id (see the header for how the id is carried). */
export const encodeWithId = (section: Section, action: string, id: string): string => {
  const plain = `${encode(section, action)}:${id}`
  return /^[A-Za-z0-9_.-]+$/.test(id) && Buffer.byteLength(plain) <= maxBytes
    ? plain
    : `${encode(section, action)}:${digest(id)}`
}

/** Whether a button's argument names this id. */
export const idMatches = (arg: string, id: string): boolean => arg.startsWith("~") ? digest(id) === arg : arg === id

/** A button without an argument; one with an argument is `None` here. */
export const parse = (data: string | undefined): Option.Option<CallbackData> => {
  if (data === undefined || Buffer.byteLength(data) > maxBytes) return Option.none()
  const [v, section, action, ...rest] = data.split(":")
  return rest.length > 0 ? Option.none() : decode({ version: v, section, action })
}

/** A button with an argument (`encodeWithId`); one without is `None` here. */
export const parseWithId = (data: string | undefined): Option.Option<CallbackDataWithId> => {
  if (data === undefined || Buffer.byteLength(data) > maxBytes) return Option.none()
  const [v, section, action, arg, ...rest] = data.split(":")
  return rest.length > 0 || arg === undefined ? Option.none() : decodeWithId({ version: v, section, action, arg })
}

const digest = (id: string): string => `~${Crypto.createHash("sha256").update(id).digest("base64url").slice(0, 16)}`
