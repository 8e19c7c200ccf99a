/**
 * Who a mailing goes to: a list of platform user ids, or a stored query over the gateway's own tables, named in
 * the request with its parameters. Queries are defined here, in code; a request never carries SQL.
 *
 * - `all_linked`: every platform user with a linked Telegram account and a chat;
 * - `language` `{language: "en"|"it"}`: those whose messages are written in that language (the language chosen
 *   in the bot's settings, else Telegram's `language_code`, as notifications decide it);
 * - `linked_since` `{days}`: those who linked their account in the last `days` days.
 *
 * Consents are not part of a segment: the mailing's consent is checked for every recipient when its wave is
 * released (a consent withdrawn meanwhile is respected), and recipients without it are counted as skipped.
 * A segment is expanded into `mailing_recipients` when the mailing starts; a list is stored at creation.
 */
import { Effect, Schema } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import type { Fragment } from "effect/sql/Statement"
import { Id as UserId } from "../platform/Model.ts"

/** The most ids one request may list (a larger audience is a stored query). */
export const maxListed = 100_000

/** No parameters at all (an empty `Schema.Struct` would let any object through, even with `onExcessProperty`). */
const NoParams = Schema.Struct({}).check(
  Schema.makeFilter((params: object) => Object.keys(params).length === 0 || "this query takes no parameters")
)
const AllLinked = Schema.Struct({ query: Schema.Literal("all_linked"), params: Schema.optional(NoParams) })
const ByLanguage = Schema.Struct({
  query: Schema.Literal("language"),
  params: Schema.Struct({ language: Schema.Literals(["en", "it"]) })
})
const LinkedSince = Schema.Struct({
  query: Schema.Literal("linked_since"),
  params: Schema.Struct({ days: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3650 })) })
})
export const StoredQuery = Schema.Union([AllLinked, ByLanguage, LinkedSince])
export type StoredQuery = typeof StoredQuery.Type

export const UserList = Schema.Struct({
  user_ids: Schema.Array(UserId).check(Schema.isMinLength(1), Schema.isMaxLength(maxListed))
})

export const Segment = Schema.Union([UserList, AllLinked, ByLanguage, LinkedSince])
export type Segment = typeof Segment.Type

/** The names of the stored queries, for error messages and docs. */
export const queryNames: ReadonlyArray<StoredQuery["query"]> = ["all_linked", "language", "linked_since"]

/** How a mailing remembers its segment: the query and its parameters, or how many ids were listed. */
export const describe = (segment: Segment, listed: number): Record<string, unknown> =>
  "user_ids" in segment ? { user_ids: listed } : { query: segment.query, params: segment.params ?? {} }

/** The stored form back as a query, if it is one (a list is already expanded). */
export const storedQuery = Schema.decodeUnknownOption(StoredQuery)

/** The platform user ids a stored query selects, as `SELECT user_id ...`. */
const select = (sql: SqlClient, segment: StoredQuery): Fragment => {
  const linked = sql`i.platform_user_id IS NOT NULL AND i.chat_id IS NOT NULL`
  switch (segment.query) {
    case "all_linked":
      return sql`SELECT DISTINCT i.platform_user_id AS user_id FROM identities i WHERE ${linked}`
    case "language":
      return sql`
        SELECT DISTINCT i.platform_user_id AS user_id FROM identities i
        WHERE ${linked} AND COALESCE(i.language, CASE WHEN lower(i.language_code) LIKE 'it%' THEN 'it' ELSE 'en' END)
          = ${segment.params.language}`
    case "linked_since":
      return sql`
        SELECT DISTINCT i.platform_user_id AS user_id FROM identities i
        WHERE ${linked} AND i.linked_at >= now() - make_interval(days => ${segment.params.days})`
  }
}

/** Stores a list of ids as the mailing's recipients, in the order given; an id listed again is dropped. */
export const insertList = (sql: SqlClient, mailingId: string, userIds: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const unique = [...new Set(userIds)]
    yield* sql`
      INSERT INTO mailing_recipients (mailing_id, seq, platform_user_id)
      SELECT ${mailingId}, t.ord::integer, t.user_id
      FROM jsonb_array_elements_text(${JSON.stringify(unique)}::jsonb) WITH ORDINALITY AS t(user_id, ord)
    `
    return unique.length
  })

/** Expands a stored query into the mailing's recipients (ordered by id); answers how many there are. */
export const expand = (sql: SqlClient, mailingId: string, segment: StoredQuery) =>
  Effect.gen(function*() {
    const rows = yield* sql<{ readonly n: number }>`
      WITH added AS (
        INSERT INTO mailing_recipients (mailing_id, seq, platform_user_id)
        SELECT ${mailingId}, (row_number() OVER (ORDER BY s.user_id))::integer, s.user_id
        FROM (${select(sql, segment)}) AS s
        ON CONFLICT DO NOTHING
        RETURNING 1
      )
      SELECT count(*)::integer AS n FROM added
    `
    return rows[0]?.n ?? 0
  })

/**
 * Starts a mailing (its row locked by the caller): a stored query is expanded now, so the segment is the one of
 * the moment the mailing starts; a list was stored at creation. The first wave may go at once.
 */
export const start = (sql: SqlClient, mailingId: string) =>
  Effect.gen(function*() {
    const rows = yield* sql<{ readonly segment: unknown }>`SELECT segment FROM mailings WHERE id = ${mailingId}`
    const query = storedQuery(rows[0]?.segment)
    const expanded = query._tag === "Some" ? yield* expand(sql, mailingId, query.value) : null
    yield* sql`
      UPDATE mailings SET status = 'running', started_at = now(), next_wave_at = now(), updated_at = now(),
        recipients = COALESCE(${expanded}, recipients)
      WHERE id = ${mailingId}
    `
  })
