/**
 * Access tokens: issued tokens verify against the published JWKS alone (as the operator's backend would);
 * tokens with `alg: none`, HS256 keyed with the public key, an unknown `kid`, another audience or issuer, an
 * expired `exp` or a forged signature are refused; rotation keeps the old key published while its tokens live;
 * processes sharing a database share the keys; the private key is stored encrypted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Jose from "jose"
import * as Crypto from "node:crypto"
import * as Postgres from "../../layers/Postgres.ts"
import { TokenIssuer } from "../../services/TokenIssuer.ts"
import { config, testDatabase } from "../support/Infra.ts"

const encryptionKey = Crypto.randomBytes(32).toString("base64")

const issuerLayer = (databaseUrl: string, env: Record<string, string> = {}) =>
  TokenIssuer.layer.pipe(
    Layer.provideMerge(Postgres.layerUrl(Redacted.make(databaseUrl))),
    Layer.provide(config({ JWT_KEY_ENCRYPTION_KEY: encryptionKey, JWT_TTL_S: "300", ...env }))
  )

/** A second, independent process's view of the same database. */
const otherProcess = <A, E>(databaseUrl: string, use: Effect.Effect<A, E, TokenIssuer | SqlClient>) =>
  Effect.scoped(Effect.flatMap(Layer.build(issuerLayer(databaseUrl)), (context) => Effect.provide(use, context)))

/** This machine's clock, `ms` ahead. */
const later = (ms: number): Clock.Clock => {
  const now = () => Date.now() + ms
  return {
    currentTimeMillisUnsafe: now,
    currentTimeMillis: Effect.sync(now),
    currentTimeNanosUnsafe: () => BigInt(now()) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now()) * 1_000_000n),
    monotonicTimeNanosUnsafe: () => process.hrtime.bigint(),
    monotonicTimeNanos: Effect.sync(() => process.hrtime.bigint()),
    sleep: (duration) => Effect.sleep(duration)
  }
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

describe("TokenIssuer", () => {
  it.live("issues tokens that verify with the JWKS alone, and refuses forged or misdirected ones", () =>
    Effect.gen(function*() {
      const databaseUrl = yield* testDatabase
      yield* Effect.gen(function*() {
        const tokens = yield* TokenIssuer
        const { jwt, expiresIn } = yield* tokens.issue({ sub: "player-1", tgUid: 4242 })
        assert.strictEqual(expiresIn, 300)
        const jwks = Jose.createLocalJWKSet({ keys: [...(yield* tokens.jwks).keys] })
        const { payload, protectedHeader } = yield* Effect.promise(() =>
          Jose.jwtVerify(jwt, jwks, { issuer: "tg-gateway", audience: "platform", algorithms: ["EdDSA"] })
        )
        assert.strictEqual(protectedHeader.alg, "EdDSA")
        assert.strictEqual(payload.sub, "player-1")
        assert.strictEqual(payload.tg_uid, 4242)
        assert.strictEqual(payload.exp! - payload.iat!, 300)
        assert.isString(payload.jti)
        assert.deepInclude(yield* tokens.verify(jwt), { sub: "player-1", tgUid: 4242 })

        const [header, body] = jwt.split(".") as [string, string, string]
        const claims = JSON.parse(Buffer.from(body, "base64url").toString()) as Record<string, unknown>
        const publicJwk = (yield* tokens.jwks).keys[0]!
        const hs256 = yield* Effect.promise(() =>
          new Jose.SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: publicJwk.kid! })
            .sign(new TextEncoder().encode(JSON.stringify(publicJwk)))
        )
        const stranger = Crypto.generateKeyPairSync("ed25519").privateKey
        const signedBy = (key: Crypto.KeyObject, header: Jose.JWTHeaderParameters, change: Record<string, unknown> = {}) =>
          Effect.promise(() => new Jose.SignJWT({ ...claims, ...change }).setProtectedHeader(header).sign(key))
        const forged: ReadonlyArray<[string, string, string]> = [
          ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${body}.`, "token_invalid"],
          ["alg none with our kid", `${b64({ alg: "none", kid: publicJwk.kid })}.${body}.`, "token_invalid"],
          ["HS256 keyed with the public key", hs256, "token_invalid"],
          ["unknown kid", yield* signedBy(stranger, { alg: "EdDSA", kid: "not-ours" }), "token_invalid"],
          ["our kid, another key", yield* signedBy(stranger, { alg: "EdDSA", kid: publicJwk.kid! }), "token_invalid"],
          ["payload changed", `${header}.${b64({ ...claims, sub: "player-2" })}.${jwt.split(".")[2]}`, "token_invalid"],
          ["not a JWT", "abc", "token_invalid"]
        ]
        for (const [name, token, code] of forged) {
          const refused = yield* tokens.verify(token).pipe(Effect.flip)
          assert.strictEqual(refused.code, code, name)
        }
      }).pipe(Effect.provide(issuerLayer(databaseUrl)))

      // Another audience or issuer, and an expired token, from an issuer sharing the keys.
      const other = yield* otherProcess(databaseUrl, Effect.flatMap(TokenIssuer, (t) => t.issue({ sub: "p", tgUid: 1 })))
      const misdirected = yield* Effect.scoped(Effect.flatMap(
        Layer.build(issuerLayer(databaseUrl, { JWT_AUDIENCE: "another-app" })),
        (context) => Effect.provide(Effect.flatMap(TokenIssuer, (t) => t.verify(other.jwt)).pipe(Effect.flip), context)
      ))
      assert.strictEqual(misdirected.code, "token_invalid")
      const foreignIssuer = yield* Effect.scoped(Effect.flatMap(
        Layer.build(issuerLayer(databaseUrl, { JWT_ISSUER: "someone-else" })),
        (context) => Effect.provide(Effect.flatMap(TokenIssuer, (t) => t.verify(other.jwt)).pipe(Effect.flip), context)
      ))
      assert.strictEqual(foreignIssuer.code, "token_invalid")
      const expired = yield* otherProcess(databaseUrl, Effect.gen(function*() {
        const tokens = yield* TokenIssuer
        const { jwt } = yield* tokens.issue({ sub: "p", tgUid: 1 })
        return yield* tokens.verify(jwt).pipe(Effect.provideService(Clock.Clock, later(310_000)), Effect.flip)
      }))
      assert.strictEqual(expired.code, "token_expired")
    }))

  it.live("rotates without downtime: old tokens verify until they expire, and the private key is encrypted", () =>
    Effect.gen(function*() {
      const databaseUrl = yield* testDatabase
      const before = yield* otherProcess(databaseUrl, Effect.flatMap(TokenIssuer, (t) => t.issue({ sub: "a", tgUid: 1 })))
      const newKid = yield* otherProcess(databaseUrl, Effect.flatMap(TokenIssuer, (t) => t.rotate))
      yield* otherProcess(databaseUrl, Effect.gen(function*() {
        const tokens = yield* TokenIssuer
        const jwks = yield* tokens.jwks
        assert.strictEqual(jwks.keys.length, 2)
        assert.strictEqual((yield* tokens.verify(before.jwt)).sub, "a")
        const after = yield* tokens.issue({ sub: "b", tgUid: 2 })
        assert.strictEqual(Jose.decodeProtectedHeader(after.jwt).kid, newKid)
        for (const key of jwks.keys) assert.notProperty(key, "d", "no private part in the JWKS")
      }))
      const stored = yield* otherProcess(databaseUrl, Effect.gen(function*() {
        const sql = yield* SqlClient
        return yield* sql<{ private_key_enc: string }>`SELECT private_key_enc FROM jwt_signing_keys`
      }))
      for (const row of stored) {
        assert.notInclude(row.private_key_enc, "MC4CAQAwBQYDK2Vw", "not a plain PKCS#8 key")
        assert.strictEqual(row.private_key_enc.split(".").length, 3)
      }
    }))
})
