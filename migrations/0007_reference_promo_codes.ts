/**
 * Promo codes of the reference platform (`services/platform/Reference.ts`, after 0005), filled by `npm run seed`.
 *
 * - `ref_promo_codes`: a code (stored upper-case: players' codes are upper-cased before the lookup), the bonus it
 *   grants as text for the player (never money moved by the gateway), when it expires (null: never), how many
 *   activations it allows in all (null: no limit), how many it has had, and the KYC level a player needs.
 * - `ref_promo_activations`: who activated which code; a player activates a code at most once.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS ref_promo_codes (
      code           text PRIMARY KEY CHECK (code ~ '^[A-Z0-9-]{3,32}$'),
      bonus          text NOT NULL CHECK (length(bonus) > 0),
      expires_at     timestamptz,
      max_uses       integer CHECK (max_uses >= 0),
      uses           integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
      min_kyc_level  integer NOT NULL DEFAULT 0 CHECK (min_kyc_level BETWEEN 0 AND 3)
    )
  `
  yield* sql`
    CREATE TABLE IF NOT EXISTS ref_promo_activations (
      code          text NOT NULL REFERENCES ref_promo_codes ON DELETE CASCADE,
      user_id       text NOT NULL REFERENCES ref_users ON DELETE CASCADE,
      activated_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (code, user_id)
    )
  `
  yield* sql`CREATE INDEX IF NOT EXISTS ref_promo_activations_by_user ON ref_promo_activations (user_id)`
})
