/**
 * Decoding Bot API parameters. Telegram takes the same parameter as a JSON value, a form field or
 * a query-string value, so every schema here accepts both the typed value and its string form
 * (`"123"` for 123, `"true"` for true, a JSON string for an object or array). Decoding failures
 * become the 400 answers Telegram gives, with the description chosen per parameter.
 */
import { Effect, Result, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { badRequest, type BotApiError } from "../BotApiError.ts"

/** The merged parameters of one call: query string, then body. */
export type Params = Readonly<Record<string, unknown>>

const IntFromString = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^\s*-?\d+\s*$/)),
  Schema.decodeTo(Schema.Int, SchemaTransformation.numberFromString)
)

/** An integer, or its decimal string. */
export const IntParam = Schema.Union([Schema.Int, IntFromString])

/** A `chat_id`: an integer (or its string) or `@username`. */
export const ChatIdParam = Schema.Union([Schema.Int, IntFromString, Schema.String])

/** A string; numbers are accepted and turned into their decimal form, as Telegram does. */
export const StringParam = Schema.Union([
  Schema.String,
  Schema.Finite.pipe(Schema.decodeTo(
    Schema.String,
    SchemaTransformation.transform({ decode: (n: number) => String(n), encode: (s: string) => Number(s) })
  ))
])

const booleanTexts = ["true", "false", "1", "0", "True", "False", "TRUE", "FALSE"] as const
type BooleanText = typeof booleanTexts[number]

/** A boolean, or `true`/`false`/`1`/`0` as text. */
export const BoolParam = Schema.Union([
  Schema.Boolean,
  Schema.Literals(booleanTexts).pipe(Schema.decodeTo(
    Schema.Boolean,
    SchemaTransformation.transform<boolean, BooleanText>({
      decode: (text) => text === "true" || text === "1" || text === "True" || text === "TRUE",
      encode: (value) => value ? "true" : "false"
    })
  ))
])

/** A JSON value given either as such (JSON bodies) or serialised into a string (forms, queries). */
export const JsonParam = <S extends Schema.Top>(schema: S) => Schema.Union([schema, Schema.fromJsonString(schema)])

export const JsonObjectParam = JsonParam(Schema.Record(Schema.String, Schema.Unknown))

export const StringListParam = JsonParam(Schema.Array(Schema.String))

/** How to describe a bad parameter: a fixed description per field, else a generic one. */
export type Descriptions = Readonly<Record<string, string>>

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Decodes a method's parameters; a failure answers 400 with the description given for the first
 * failing field (e.g. "message text is empty"), or `invalid parameter "<field>"`.
 */
export const decodeParams = <S extends Schema.ConstraintDecoder<unknown>>(
  schema: S,
  descriptions: Descriptions = {}
) => {
  const decode = Schema.decodeUnknownResult(schema)
  return (params: Params): Effect.Effect<S["Type"], BotApiError> => {
    const result = decode(params)
    if (Result.isSuccess(result)) return Effect.succeed(result.success)
    const [first] = formatter(result.failure.issue).issues
    const field = first?.path?.[0]
    const name = typeof field === "object" ? String(field.key) : String(field ?? "")
    const missing = first?.message === "Missing key"
    return Effect.fail(badRequest(
      descriptions[name] ?? (missing ? `parameter "${name}" is required` : `invalid parameter "${name}": ${first?.message ?? "bad value"}`)
    ))
  }
}
