/**
 * Who a Telegram user is to the platform. `telegram_user_id` is the key; a record holds the link to a platform
 * user, the chat the bot reaches the user in, the username and language Telegram last reported, and the
 * consents (promotions, tournaments, payouts). A first sign-in creates the record unlinked: the simplified
 * profile, completed (phone, e-mail) in the operator's cabinet. Every change is written to `identity_audit`
 * atomically with it, with who made it (ids and field names only: no usernames in the audit).
 *
 * The notification path reads `recipients` for every event, so an unlink or a consent withdrawn is seen by
 * the next notification, without a cache to expire.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

export const consentTypes = ["promotions", "tournaments", "payouts"] as const
export type ConsentType = (typeof consentTypes)[number]
export type Consents = { readonly [K in ConsentType]: boolean }
/** The consents to change; the others keep their value. */
export type ConsentChanges = { readonly [K in ConsentType]?: boolean | undefined }

export type IdentityRecord = {
  readonly telegramUserId: number
  readonly platformUserId: string | null
  readonly chatId: number | null
  readonly username: string | null
  readonly languageCode: string | null
  /** The language chosen in the bot's settings, if any: it wins over `languageCode`. */
  readonly language: "en" | "it" | null
  readonly consents: Consents
  readonly linkedAt: Date | null
  readonly unlinkedAt: Date | null
}

/** A chat to notify about a platform user, with the language to write in. */
export type Recipient = { readonly telegramUserId: number; readonly chatId: number; readonly languageCode: string | null }

/** Who made a change, for the audit: `user` (the player), `platform`, `operator:<name>`, `bot`. */
export type Actor = string

export class AlreadyLinked extends Schema.TaggedError<AlreadyLinked>()("AlreadyLinked", {
  telegramUserId: Schema.Number
}) {
  override get message() {
    return "this Telegram account is linked to another platform account; unlink it first"
  }
}

export class Identity extends Context.Service<Identity, {
  /** Creates the record at the first sign-in (unlinked) and keeps username, language and chat up to date. */
  readonly signIn: (user: {
    readonly telegramUserId: number
    readonly username: string | undefined
    readonly languageCode: string | undefined
    readonly chatId: number | undefined
  }, actor: Actor) => Effect.Effect<IdentityRecord, SqlError>
  readonly get: (telegramUserId: number) => Effect.Effect<IdentityRecord | undefined, SqlError>
  /** Links to `platformUserId`; refused while linked to another one. Linking again to the same one is a no-op. */
  readonly link: (link: {
    readonly telegramUserId: number
    readonly platformUserId: string
    readonly chatId: number | undefined
  }, actor: Actor) => Effect.Effect<IdentityRecord, AlreadyLinked | SqlError>
  /** Clears the link; answers the platform user it was linked to, if any. Consents are kept for a later link. */
  readonly unlink: (telegramUserId: number, actor: Actor) => Effect.Effect<string | undefined, SqlError>
  readonly setConsents: (
    telegramUserId: number,
    changes: ConsentChanges,
    actor: Actor
  ) => Effect.Effect<Consents | undefined, SqlError>
  /** Keeps the language the player chose in the bot's settings (notifications are written in it). */
  readonly setLanguage: (telegramUserId: number, language: "en" | "it", actor: Actor) => Effect.Effect<void, SqlError>
  /** The linked chats of a platform user that accept `consent` (`undefined`: transactional, always accepted). */
  readonly recipients: (
    platformUserId: string,
    consent: ConsentType | undefined
  ) => Effect.Effect<ReadonlyArray<Recipient>, SqlError>
}>()("tg-gateway/services/Identity") {
  static readonly layer = Layer.effect(Identity)(
    Effect.gen(function*() {
      const sql = yield* SqlClient

      const audit = (telegramUserId: number, action: string, actor: Actor, detail: Record<string, unknown> = {}) =>
        sql`
          INSERT INTO identity_audit (telegram_user_id, action, actor, detail)
          VALUES (${telegramUserId}, ${action}, ${actor}, ${JSON.stringify(detail)}::jsonb)
        `

      const get = Effect.fn("Identity.get")(function*(telegramUserId: number) {
        const rows = yield* sql<Row>`SELECT * FROM identities WHERE telegram_user_id = ${telegramUserId}`
        return rows[0] === undefined ? undefined : toRecord(rows[0])
      })

      const signIn = Effect.fn("Identity.signIn")(function*(user: Parameters<Identity["Service"]["signIn"]>[0],
        actor: Actor)
      {
        // One statement (atomic, one round trip: every sign-in runs it). `xmax = 0` marks a row just inserted;
        // `before` sees the row as it was (every part of a statement sees the same snapshot), so a creation and a
        // change of username, language or chat are audited, naming the fields that changed, not their values.
        const rows = yield* sql<Row>`
          WITH before AS (
            SELECT username, language_code, chat_id FROM identities WHERE telegram_user_id = ${user.telegramUserId}
          ), upserted AS (
            INSERT INTO identities (telegram_user_id, username, language_code, chat_id)
            VALUES (${user.telegramUserId}, ${user.username ?? null}, ${user.languageCode ?? null}, ${user.chatId ?? null})
            ON CONFLICT (telegram_user_id) DO UPDATE SET
              username = EXCLUDED.username,
              language_code = COALESCE(EXCLUDED.language_code, identities.language_code),
              chat_id = COALESCE(EXCLUDED.chat_id, identities.chat_id),
              updated_at = now()
            RETURNING *, (xmax = 0) AS inserted
          ), changes AS (
            SELECT u.telegram_user_id, u.inserted, EXISTS (SELECT 1 FROM before) AS seen, array_remove(ARRAY[
              CASE WHEN b.username IS DISTINCT FROM u.username THEN 'username' END,
              CASE WHEN b.language_code IS DISTINCT FROM u.language_code THEN 'language_code' END,
              CASE WHEN b.chat_id IS DISTINCT FROM u.chat_id THEN 'chat_id' END
            ], NULL) AS fields
            FROM upserted u LEFT JOIN before b ON true
          ), audited AS (
            INSERT INTO identity_audit (telegram_user_id, action, actor, detail)
            SELECT telegram_user_id, CASE WHEN inserted THEN 'created' ELSE 'profile_changed' END, ${actor},
                   CASE WHEN inserted THEN '{}'::jsonb ELSE jsonb_build_object('fields', to_jsonb(fields)) END
            -- A row another sign-in inserted after this statement's snapshot (before is empty, nothing inserted here)
            -- has no known previous values: nothing is claimed to have changed.
            FROM changes WHERE inserted OR (seen AND cardinality(fields) > 0)
          )
          SELECT * FROM upserted
        `
        return toRecord(rows[0]!)
      })

      const link = Effect.fn("Identity.link")(function*(link: Parameters<Identity["Service"]["link"]>[0], actor: Actor) {
        const rows = yield* sql<Row>`
          INSERT INTO identities (telegram_user_id, platform_user_id, chat_id, linked_at)
          VALUES (${link.telegramUserId}, ${link.platformUserId}, ${link.chatId ?? null}, now())
          ON CONFLICT (telegram_user_id) DO UPDATE SET
            platform_user_id = EXCLUDED.platform_user_id,
            chat_id = COALESCE(EXCLUDED.chat_id, identities.chat_id),
            linked_at = now(),
            updated_at = now()
          WHERE identities.platform_user_id IS NULL
          RETURNING *
        `
        if (rows[0] !== undefined) {
          yield* audit(link.telegramUserId, "linked", actor, { platform_user_id: link.platformUserId })
          return toRecord(rows[0])
        }
        const existing = yield* get(link.telegramUserId)
        if (existing?.platformUserId === link.platformUserId) return existing
        return yield* new AlreadyLinked({ telegramUserId: link.telegramUserId })
      }, (effect) => sql.withTransaction(effect))

      const unlink = Effect.fn("Identity.unlink")(function*(telegramUserId: number, actor: Actor) {
        const rows = yield* sql<{ readonly previous: string }>`
          UPDATE identities AS i SET platform_user_id = NULL, unlinked_at = now(), updated_at = now()
          FROM (SELECT telegram_user_id, platform_user_id FROM identities WHERE telegram_user_id = ${telegramUserId}
                FOR UPDATE) AS old
          WHERE i.telegram_user_id = old.telegram_user_id AND old.platform_user_id IS NOT NULL
          RETURNING old.platform_user_id AS previous
        `
        if (rows[0] === undefined) return undefined
        yield* audit(telegramUserId, "unlinked", actor, { platform_user_id: rows[0].previous })
        return rows[0].previous
      }, (effect) => sql.withTransaction(effect))

      const setConsents = Effect.fn("Identity.setConsents")(function*(telegramUserId: number,
        changes: ConsentChanges, actor: Actor)
      {
        const current = yield* sql<Row>`SELECT * FROM identities WHERE telegram_user_id = ${telegramUserId} FOR UPDATE`
        if (current[0] === undefined) return undefined
        const before = toRecord(current[0]).consents
        // Only what really changes is written and audited: setting a consent to its value is no change.
        const changed = Object.fromEntries(
          consentTypes.flatMap((type) => changes[type] !== undefined && changes[type] !== before[type] ? [[type, changes[type]]] : [])
        ) as Partial<Consents>
        if (Object.keys(changed).length === 0) return before
        yield* sql`
          UPDATE identities SET
            consent_promotions = ${changed.promotions ?? before.promotions},
            consent_tournaments = ${changed.tournaments ?? before.tournaments},
            consent_payouts = ${changed.payouts ?? before.payouts},
            updated_at = now()
          WHERE telegram_user_id = ${telegramUserId}
        `
        yield* audit(telegramUserId, "consents_changed", actor, changed)
        return { ...before, ...changed }
      }, (effect) => sql.withTransaction(effect))

      const recipients = Effect.fn("Identity.recipients")(function*(platformUserId: string,
        consent: ConsentType | undefined)
      {
        const rows = yield* sql<Row>`
          SELECT * FROM identities
          WHERE platform_user_id = ${platformUserId} AND chat_id IS NOT NULL
        `
        return rows.map(toRecord)
          .filter((r) => consent === undefined || r.consents[consent])
          .map((r) => ({ telegramUserId: r.telegramUserId, chatId: r.chatId!, languageCode: r.languageCode }))
      })

      const setLanguage = Effect.fn("Identity.setLanguage")(function*(telegramUserId: number,
        language: "en" | "it", actor: Actor)
      {
        const rows = yield* sql`
          UPDATE identities SET language = ${language}, updated_at = now()
          WHERE telegram_user_id = ${telegramUserId} AND language IS DISTINCT FROM ${language}
          RETURNING telegram_user_id
        `
        if (rows.length > 0) yield* audit(telegramUserId, "profile_changed", actor, { fields: ["language"] })
      }, (effect) => sql.withTransaction(effect))

      return { signIn, get, link, unlink, setConsents, setLanguage, recipients }
    })
  )
}

type Row = {
  readonly telegram_user_id: string | number
  readonly platform_user_id: string | null
  readonly chat_id: string | number | null
  readonly username: string | null
  readonly language_code: string | null
  readonly language: "en" | "it" | null
  readonly consent_promotions: boolean
  readonly consent_tournaments: boolean
  readonly consent_payouts: boolean
  readonly linked_at: Date | null
  readonly unlinked_at: Date | null
}

const toRecord = (row: Row): IdentityRecord => ({
  telegramUserId: Number(row.telegram_user_id),
  platformUserId: row.platform_user_id,
  chatId: row.chat_id === null ? null : Number(row.chat_id),
  username: row.username,
  languageCode: row.language_code,
  language: row.language ?? null,
  consents: {
    promotions: row.consent_promotions,
    tournaments: row.consent_tournaments,
    payouts: row.consent_payouts
  },
  linkedAt: row.linked_at,
  unlinkedAt: row.unlinked_at
})
