/**
 * Short-lived platform JWTs, signed with EdDSA (Ed25519) through `jose`, that the operator's backend verifies
 * on its own with the JWKS (`GET /.well-known/jwks.json`).
 *
 * Keys live in Postgres (`jwt_signing_keys`): the public JWK, and the private key encrypted with AES-256-GCM
 * under `JWT_KEY_ENCRYPTION_KEY`. The newest key signs; a key older than `JWT_KEY_ROTATE_DAYS` is replaced
 * (`rotate` does it at once) and stays in the JWKS until every token it signed has expired, so rotation needs no
 * downtime and no coordinated deploy. Every process reloads the keys each minute, and at once when it meets an
 * unknown `kid`. Creating the first key and rotating take an advisory lock, so processes starting together
 * create one key, not several.
 *
 * Verification pins the algorithm (EdDSA only: `alg: none`, HS256 keyed with the public key and every other
 * algorithm are refused), the issuer, the audience and the expiry, and knows only the keys it published.
 */
import { Clock, Context, Effect, Layer, Metric, Redacted, Ref, Schedule, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as Jose from "jose"
import * as Crypto from "node:crypto"
import * as Env from "../src/config.ts"
import * as Metrics from "../src/metrics.ts"

export class TokenError extends Schema.TaggedError<TokenError>()("TokenError", {
  code: Schema.Literals(["token_expired", "token_invalid"]),
  message: Schema.String
}) {}

/** What a token says: `sub` is the platform user id, or `tg:<telegram user id>` when not linked. */
export type Claims = { readonly sub: string; readonly tgUid: number; readonly jti: string; readonly exp: number }

export type Issued = { readonly jwt: string; readonly expiresIn: number; readonly jti: string }

export class TokenIssuer extends Context.Service<TokenIssuer, {
  readonly issue: (subject: { readonly sub: string; readonly tgUid: number }) => Effect.Effect<Issued>
  readonly verify: (jwt: string) => Effect.Effect<Claims, TokenError>
  /** The published keys: the signing one and those retired less than a token lifetime ago. */
  readonly jwks: Effect.Effect<{ readonly keys: ReadonlyArray<Jose.JWK> }>
  /** Starts signing with a new key now; the old one stays published until its tokens expire. */
  readonly rotate: Effect.Effect<string>
}>()("tg-gateway/services/TokenIssuer") {
  static readonly layer = Layer.effect(TokenIssuer)(
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const ttlS = yield* Env.jwtTtlS
      const issuer = yield* Env.jwtIssuer
      const audience = yield* Env.jwtAudience
      const rotateAfterMs = (yield* Env.jwtKeyRotateDays) * 86_400_000
      const encryptionKey = Buffer.from(Redacted.value(yield* Env.jwtKeyEncryptionKey), "base64")

      type Row = {
        readonly kid: string
        readonly public_jwk: Jose.JWK
        readonly private_key_enc: string
        readonly created_at: Date
        readonly retired_at: Date | null
      }
      type Loaded = {
        readonly signing: { readonly kid: string; readonly key: Crypto.KeyObject; readonly createdAt: number }
        readonly published: ReadonlyMap<string, { readonly jwk: Jose.JWK; readonly key: Crypto.KeyObject }>
      }

      const lock = sql`SELECT pg_advisory_xact_lock(hashtext('tg-gateway/jwt_signing_keys'))`
      const createKey = Effect.gen(function*() {
        const { privateKey, publicKey } = Crypto.generateKeyPairSync("ed25519")
        const jwk = { ...(yield* Effect.promise(() => Jose.exportJWK(publicKey))), alg: "EdDSA", use: "sig" }
        const kid = yield* Effect.promise(() => Jose.calculateJwkThumbprint(jwk))
        const pkcs8 = privateKey.export({ format: "der", type: "pkcs8" })
        yield* sql`UPDATE jwt_signing_keys SET retired_at = now() WHERE retired_at IS NULL`
        yield* sql`INSERT INTO jwt_signing_keys ${sql.insert({
          kid,
          public_jwk: JSON.stringify({ ...jwk, kid }),
          private_key_enc: encrypt(encryptionKey, pkcs8)
        })}`
        return kid
      })

      const load = Effect.gen(function*() {
        const rows = yield* sql<Row>`
          SELECT kid, public_jwk, private_key_enc, created_at, retired_at FROM jwt_signing_keys
          WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => ${ttlS + 120})
          ORDER BY created_at DESC`
        const current = rows.find((r) => r.retired_at === null)
        if (current === undefined || Date.now() - current.created_at.getTime() > rotateAfterMs) return undefined
        const published = new Map(rows.map((r) => {
          const jwk = typeof r.public_jwk === "string" ? JSON.parse(r.public_jwk) as Jose.JWK : r.public_jwk
          return [r.kid, { jwk, key: Crypto.createPublicKey({ key: jwk as Crypto.JsonWebKey, format: "jwk" }) }]
        }))
        const key = yield* Effect.try({
          try: () =>
            Crypto.createPrivateKey({ key: decrypt(encryptionKey, current.private_key_enc), format: "der", type: "pkcs8" }),
          catch: () => new Error(`JWT_KEY_ENCRYPTION_KEY does not open the stored signing key ${current.kid}`)
        })
        return { signing: { kid: current.kid, key, createdAt: current.created_at.getTime() }, published } satisfies Loaded
      })

      /** The keys, creating (or rotating to) a new signing key when there is none or it is too old. */
      const loadOrCreate = Effect.gen(function*() {
        const loaded = yield* load
        if (loaded !== undefined) return loaded
        return yield* sql.withTransaction(Effect.gen(function*() {
          yield* lock
          const again = yield* load
          if (again !== undefined) return again
          yield* createKey
          return (yield* load)!
        }))
      }).pipe(Effect.orDie)

      const keys = yield* Ref.make(yield* loadOrCreate)
      const refresh = Effect.flatMap(loadOrCreate, (loaded) => Ref.set(keys, loaded))
      yield* refresh.pipe(
        Effect.catchCause((cause) => Effect.logWarning("jwt keys: reload failed", { cause: String(cause) })),
        Effect.repeat(Schedule.spaced("1 minute")),
        Effect.forkScoped
      )

      const issue = (subject: { readonly sub: string; readonly tgUid: number }) =>
        Effect.gen(function*() {
          const started = performance.now()
          const { signing } = yield* Ref.get(keys)
          const nowS = Math.floor((yield* Clock.currentTimeMillis) / 1000)
          const jti = Crypto.randomUUID()
          const jwt = yield* Effect.promise(() =>
            new Jose.SignJWT({ tg_uid: subject.tgUid })
              .setProtectedHeader({ alg: "EdDSA", typ: "JWT", kid: signing.kid })
              .setIssuer(issuer)
              .setAudience(audience)
              .setSubject(subject.sub)
              .setIssuedAt(nowS)
              .setExpirationTime(nowS + ttlS)
              .setJti(jti)
              .sign(signing.key)
          )
          yield* Metric.update(Metrics.jwtIssueLatency, (performance.now() - started) / 1000)
          return { jwt, expiresIn: ttlS, jti }
        })

      const invalid = (message: string) => new TokenError({ code: "token_invalid", message })
      let lastUnknownReload = 0
      const keyFor = (kid: string | undefined) =>
        Effect.gen(function*() {
          if (kid === undefined) return yield* Effect.fail(invalid("the token names no key"))
          const known = (yield* Ref.get(keys)).published.get(kid)
          if (known !== undefined) return known.key
          // Another process may have rotated a moment ago: reload, but at most every 10 s, so tokens with
          // made-up key ids cannot turn into one database query each.
          const now = yield* Clock.currentTimeMillis
          if (now - lastUnknownReload < 10_000) return yield* Effect.fail(invalid("the token's key is not ours"))
          lastUnknownReload = now
          yield* refresh
          const reloaded = (yield* Ref.get(keys)).published.get(kid)
          return reloaded !== undefined ? reloaded.key : yield* Effect.fail(invalid("the token's key is not ours"))
        })

      const verify = (jwt: string) =>
        Effect.gen(function*() {
          const header = yield* Effect.try({
            try: () => Jose.decodeProtectedHeader(jwt),
            catch: () => invalid("not a JWT")
          })
          if (header.alg !== "EdDSA") return yield* Effect.fail(invalid("the token's algorithm is not EdDSA"))
          const key = yield* keyFor(header.kid)
          const nowS = Math.floor((yield* Clock.currentTimeMillis) / 1000)
          const { payload } = yield* Effect.tryPromise({
            try: () =>
              Jose.jwtVerify(jwt, key, {
                algorithms: ["EdDSA"],
                issuer,
                audience,
                currentDate: new Date(nowS * 1000),
                clockTolerance: 5,
                requiredClaims: ["sub", "exp", "iat", "jti"]
              }),
            catch: (error) =>
              error instanceof Jose.errors.JWTExpired
                ? new TokenError({ code: "token_expired", message: "the token has expired" })
                : invalid("the token does not verify")
          })
          if (typeof payload.tg_uid !== "number" || !Number.isSafeInteger(payload.tg_uid)) {
            return yield* Effect.fail(invalid("the token has no tg_uid"))
          }
          return { sub: payload.sub!, tgUid: payload.tg_uid, jti: payload.jti!, exp: payload.exp! }
        })

      return {
        issue,
        verify,
        jwks: Effect.map(Ref.get(keys), (loaded) => ({ keys: [...loaded.published.values()].map((k) => k.jwk) })),
        rotate: Effect.gen(function*() {
          const kid = yield* sql.withTransaction(Effect.andThen(lock, createKey))
          yield* refresh
          return kid
        }).pipe(Effect.orDie)
      }
    })
  )
}

/** AES-256-GCM: `iv.tag.ciphertext`, base64url. */
const encrypt = (key: Buffer, plain: Buffer): string => {
  const iv = Crypto.randomBytes(12)
  const cipher = Crypto.createCipheriv("aes-256-gcm", key, iv)
  const body = Buffer.concat([cipher.update(plain), cipher.final()])
  return [iv, cipher.getAuthTag(), body].map((b) => b.toString("base64url")).join(".")
}

const decrypt = (key: Buffer, sealed: string): Buffer => {
  const [iv, tag, body] = sealed.split(".").map((p) => Buffer.from(p, "base64url")) as [Buffer, Buffer, Buffer]
  const decipher = Crypto.createDecipheriv("aes-256-gcm", key, iv)
  decipher.setAuthTag(tag)
  return Buffer.concat([decipher.update(body), decipher.final()])
}
