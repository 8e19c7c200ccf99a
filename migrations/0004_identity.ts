/**
 * Identities and sessions of `services/Identity.ts` and `services/Sessions.ts`.
 *
 * - `identities`: one row per Telegram user (created at the first sign-in: the simplified profile), its link to a
 *   platform user, the chat the bot reaches it in, and its consents. Unlinking keeps the row (and its consents)
 *   with `platform_user_id` cleared.
 * - `identity_audit`: every change to an identity, who made it, and when. Ids only, no names.
 * - `session_families` / `refresh_tokens`: a sign-in is a family of refresh tokens, each used once; only a
 *   SHA-256 of each token is stored.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS identities (
      telegram_user_id     bigint PRIMARY KEY,
      platform_user_id     text,
      chat_id              bigint,
      username             text,
      language_code        text,
      consent_promotions   boolean NOT NULL DEFAULT false,
      consent_tournaments  boolean NOT NULL DEFAULT false,
      consent_payouts      boolean NOT NULL DEFAULT true,
      created_at           timestamptz NOT NULL DEFAULT now(),
      updated_at           timestamptz NOT NULL DEFAULT now(),
      linked_at            timestamptz,
      unlinked_at          timestamptz
    )
  `
  yield* sql`
    CREATE INDEX IF NOT EXISTS identities_platform_user
    ON identities (platform_user_id) WHERE platform_user_id IS NOT NULL
  `
  yield* sql`
    CREATE TABLE IF NOT EXISTS identity_audit (
      id                bigserial PRIMARY KEY,
      telegram_user_id  bigint NOT NULL,
      action            text NOT NULL,
      detail            jsonb NOT NULL DEFAULT '{}'::jsonb,
      actor             text NOT NULL,
      at                timestamptz NOT NULL DEFAULT now()
    )
  `
  yield* sql`CREATE INDEX IF NOT EXISTS identity_audit_user ON identity_audit (telegram_user_id, at)`
  yield* sql`
    CREATE TABLE IF NOT EXISTS session_families (
      family_id         uuid PRIMARY KEY,
      telegram_user_id  bigint NOT NULL,
      method            text NOT NULL,
      created_at        timestamptz NOT NULL DEFAULT now(),
      expires_at        timestamptz NOT NULL,
      revoked_at        timestamptz,
      revoked_reason    text
    )
  `
  yield* sql`CREATE INDEX IF NOT EXISTS session_families_user ON session_families (telegram_user_id)`
  yield* sql`
    CREATE TABLE IF NOT EXISTS refresh_tokens (
      token_hash  bytea PRIMARY KEY,
      family_id   uuid NOT NULL REFERENCES session_families (family_id) ON DELETE CASCADE,
      created_at  timestamptz NOT NULL DEFAULT now(),
      expires_at  timestamptz NOT NULL,
      used_at     timestamptz
    )
  `
  yield* sql`CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id)`
})
