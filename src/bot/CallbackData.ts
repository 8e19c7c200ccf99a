/**
 * Callback data of inline buttons: `v1:<section>:<action>`, at most 64 bytes, decoded with Schema. The version
 * prefix lets a deploy change the layout: buttons from an older layout decode to `None` and get a soft answer.
 */
import { Option, Schema } from "effect"

export const version = "v1"

export const Section = Schema.Literals(["profile", "tournaments", "bonuses", "support", "link", "settings"])
export type Section = typeof Section.Type

const CallbackData = Schema.Struct({
  version: Schema.Literal(version),
  section: Section,
  action: Schema.String.check(Schema.isPattern(/^[a-z_]{1,32}$/))
})
export type CallbackData = typeof CallbackData.Type

const decode = Schema.decodeUnknownOption(CallbackData)

export const encode = (section: Section, action: string): string => `${version}:${section}:${action}`

export const parse = (data: string | undefined): Option.Option<CallbackData> => {
  if (data === undefined || Buffer.byteLength(data) > 64) return Option.none()
  const [v, section, action, ...rest] = data.split(":")
  return rest.length > 0 ? Option.none() : decode({ version: v, section, action })
}
