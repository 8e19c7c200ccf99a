/**
 * Sign-in sessions: opaque refresh tokens, each used once. A sign-in (Telegram's signature checked) starts a
 * family; every refresh replaces the token presented with a new one of the same family. A token presented a
 * second time means it was copied: the whole family is revoked, so the thief's copy and the victim's current
 * token both stop working, and the user signs in with Telegram again. A family ends at the latest
 * `SESSION_MAX_AGE_S` after its sign-in, however often it is refreshed, and at once when the account is unlinked.
 *
 * Tokens are 256 random bits (`rt_` + base64url); only their SHA-256 is stored, so a database dump holds no
 * usable token. Looking a token up by its hash compares nothing secret in application code.
 */
import { Clock, Context, Effect, Layer, Metric, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Crypto from "node:crypto"
import * as Env from "../src/config.ts"
import * as Metrics from "../src/metrics.ts"

export const sessionFailures = ["refresh_invalid", "refresh_expired", "refresh_reused", "session_revoked"] as const

export class SessionError extends Schema.TaggedError<SessionError>()("SessionError", {
  code: Schema.Literals(sessionFailures),
  message: Schema.String
}) {}

export type Refreshed = {
  readonly telegramUserId: number
  readonly refreshToken: string
  readonly expiresAt: Date
}

export class Sessions extends Context.Service<Sessions, {
  /** A new family after a verified sign-in (`method`: `initdata`, `login_widget`). */
  readonly start: (telegramUserId: number, method: string) => Effect.Effect<Refreshed, SqlError>
  /**
   * Uses `token` once and answers its replacement with what `answer` makes for its user (the access token),
   * in one transaction: if `answer` fails, the token stays unused and the client may retry with it. Refusals
   * commit (a reuse revokes the family for good).
   */
  readonly refresh: <A, E>(
    token: string,
    answer: (telegramUserId: number) => Effect.Effect<A, E>
  ) => Effect.Effect<Refreshed & { readonly answer: A }, SessionError | SqlError | E>
  /** Revokes every live family of the user; answers how many. */
  readonly revokeAll: (telegramUserId: number, reason: string) => Effect.Effect<number, SqlError>
  /**
   * Deletes families ended more than a day ago (with their tokens) and tokens expired more than a day ago;
   * answers how many rows went. Idempotent: every process may run it.
   */
  readonly purgeExpired: Effect.Effect<number, SqlError>
}>()("tg-gateway/services/Sessions") {
  static readonly layer = Layer.effect(Sessions)(
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const tokenTtlMs = (yield* Env.refreshTokenTtlS) * 1000
      const maxAgeMs = (yield* Env.sessionMaxAgeS) * 1000

      /** A new token of `familyId`, living until its own TTL or the family's end, whichever is first. */
      const mint = (familyId: string, familyEnds: Date, now: number) =>
        Effect.gen(function*() {
          const token = newToken()
          const expiresAt = new Date(Math.min(now + tokenTtlMs, familyEnds.getTime()))
          yield* sql`
            INSERT INTO refresh_tokens (token_hash, family_id, expires_at)
            VALUES (${hashOf(token)}, ${familyId}, ${expiresAt})
          `
          return { token, expiresAt }
        })

      const start = Effect.fn("Sessions.start")(function*(telegramUserId: number, method: string) {
        const now = yield* Clock.currentTimeMillis
        const familyId = Crypto.randomUUID()
        const familyEnds = new Date(now + maxAgeMs)
        const token = newToken()
        const expiresAt = new Date(Math.min(now + tokenTtlMs, familyEnds.getTime()))
        // One statement (atomic, one round trip: every sign-in runs it).
        yield* sql`
          WITH family AS (
            INSERT INTO session_families (family_id, telegram_user_id, method, expires_at)
            VALUES (${familyId}, ${telegramUserId}, ${method}, ${familyEnds})
            RETURNING family_id
          )
          INSERT INTO refresh_tokens (token_hash, family_id, expires_at)
          SELECT ${hashOf(token)}, family_id, ${expiresAt} FROM family
        `
        return { telegramUserId, refreshToken: token, expiresAt }
      })

      const revokeFamily = (familyId: string, reason: string) =>
        Effect.andThen(
          sql`
            UPDATE session_families SET revoked_at = now(), revoked_reason = ${reason}
            WHERE family_id = ${familyId} AND revoked_at IS NULL
          `,
          Metric.update(Metrics.sessionsRevoked(reason), 1)
        )

      const rotate = <A, E>(token: string, answer: (telegramUserId: number) => Effect.Effect<A, E>) => Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        // The row is locked: of two requests presenting the same token, one rotates it and the other sees reuse.
        const rows = yield* sql<{
          readonly family_id: string
          readonly expires_at: Date
          readonly used_at: Date | null
          readonly telegram_user_id: string
          readonly family_expires_at: Date
          readonly revoked_at: Date | null
        }>`
          SELECT t.family_id, t.expires_at, t.used_at, f.telegram_user_id, f.expires_at AS family_expires_at,
                 f.revoked_at
          FROM refresh_tokens t JOIN session_families f USING (family_id)
          WHERE t.token_hash = ${hashOf(token)}
          FOR UPDATE OF t, f
        `
        const row = rows[0]
        if (row === undefined) return yield* refused("refresh_invalid", "unknown refresh token")
        if (row.revoked_at !== null) return yield* refused("session_revoked", "this session has ended; sign in again")
        if (row.used_at !== null) {
          yield* revokeFamily(row.family_id, "refresh_reused")
          return yield* refused("refresh_reused", "this refresh token was already used; the session is revoked")
        }
        if (row.expires_at.getTime() <= now) return yield* refused("refresh_expired", "the refresh token has expired")
        const telegramUserId = Number(row.telegram_user_id)
        const answered = yield* answer(telegramUserId)
        yield* sql`UPDATE refresh_tokens SET used_at = now() WHERE token_hash = ${hashOf(token)}`
        const { token: next, expiresAt } = yield* mint(row.family_id, row.family_expires_at, now)
        return { telegramUserId, refreshToken: next, expiresAt, answer: answered }
      }).pipe(
        // A refusal commits (the reuse revocation must stay written); any other failure rolls everything back.
        (effect) => sql.withTransaction(effect.pipe(Effect.catchIf(isSessionError, (refusal) => Effect.succeed(refusal)))),
        Effect.flatMap((outcome) => outcome instanceof SessionError ? Effect.fail(outcome) : Effect.succeed(outcome)),
        Effect.withSpan("Sessions.refresh")
      )

      // Something that cannot be a token is refused before a transaction is opened for it.
      const refresh = <A, E>(token: string, answer: (telegramUserId: number) => Effect.Effect<A, E>) =>
        tokenPattern.test(token) ? rotate(token, answer) : refused("refresh_invalid", "not a refresh token")

      const revokeAll = Effect.fn("Sessions.revokeAll")(function*(telegramUserId: number, reason: string) {
        const rows = yield* sql`
          UPDATE session_families SET revoked_at = now(), revoked_reason = ${reason}
          WHERE telegram_user_id = ${telegramUserId} AND revoked_at IS NULL AND expires_at > now()
          RETURNING family_id
        `
        yield* Metric.update(Metrics.sessionsRevoked(reason), rows.length)
        return rows.length
      })

      const purgeExpired = Effect.gen(function*() {
        const families = yield* sql`
          DELETE FROM session_families WHERE expires_at < now() - interval '1 day' RETURNING family_id
        `
        const tokens = yield* sql`
          DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day' RETURNING family_id
        `
        return families.length + tokens.length
      }).pipe(Effect.withSpan("Sessions.purgeExpired"))

      return { start, refresh, revokeAll, purgeExpired }
    })
  )
}

const tokenPattern = /^rt_[A-Za-z0-9_-]{43}$/

const isSessionError = (error: unknown): error is SessionError => error instanceof SessionError

const newToken = (): string => `rt_${Crypto.randomBytes(32).toString("base64url")}`

const hashOf = (token: string): Buffer => Crypto.createHash("sha256").update(token).digest()

const refused = (code: SessionError["code"], message: string) => Effect.fail(new SessionError({ code, message }))
