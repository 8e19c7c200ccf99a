/**
 * One-time deep links (`services/DeepLinks.ts`) and what they leave behind.
 *
 * - `deep_links`: only what a lookup needs. The token itself is not stored, only its SHA-256, so a database
 *   dump holds no usable link; `uses` counts consumptions, `max_uses` bounds them.
 * - `deep_link_resolutions`: what each arrival got, so handling it again changes nothing.
 * - `attributions`: the first campaign a Telegram user arrived through (first touch wins).
 * - `referrals`: who brought whom; a user is referred at most once.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS deep_links (
      token_hash              bytea PRIMARY KEY,
      action                  text NOT NULL,
      params                  jsonb NOT NULL DEFAULT '{}'::jsonb,
      platform_user_id        text,
      bound_telegram_user_id  bigint,
      max_uses                integer NOT NULL CHECK (max_uses > 0),
      uses                    integer NOT NULL DEFAULT 0,
      created_at              timestamptz NOT NULL DEFAULT now(),
      expires_at              timestamptz NOT NULL
    )
  `
  yield* sql`CREATE INDEX IF NOT EXISTS deep_links_expiry ON deep_links (expires_at)`
  // What each arrival (an update, a sign-in) got: the same arrival handled again gets the same answer and uses
  // nothing more.
  yield* sql`
    CREATE TABLE IF NOT EXISTS deep_link_resolutions (
      arrival_id   text PRIMARY KEY,
      resolution   jsonb NOT NULL,
      resolved_at  timestamptz NOT NULL DEFAULT now()
    )
  `
  yield* sql`
    CREATE TABLE IF NOT EXISTS attributions (
      telegram_user_id  bigint PRIMARY KEY,
      affiliate_id      text,
      campaign_id       text,
      click_id          text,
      landing           text,
      attributed_at     timestamptz NOT NULL DEFAULT now()
    )
  `
  yield* sql`
    CREATE TABLE IF NOT EXISTS referrals (
      telegram_user_id          bigint PRIMARY KEY,
      referrer_platform_user_id text,
      referrer_telegram_user_id bigint,
      referred_at               timestamptz NOT NULL DEFAULT now()
    )
  `
})
