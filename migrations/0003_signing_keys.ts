/**
 * The JWT signing keys (Ed25519) of `services/TokenIssuer.ts`: the public JWK as published in the JWKS, the
 * private key encrypted with `JWT_KEY_ENCRYPTION_KEY` (AES-256-GCM), and when the key stopped signing (it stays
 * published until every token it signed has expired).
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS jwt_signing_keys (
      kid              text PRIMARY KEY,
      public_jwk       jsonb NOT NULL,
      private_key_enc  text NOT NULL,
      created_at       timestamptz NOT NULL DEFAULT now(),
      retired_at       timestamptz
    )
  `
})
