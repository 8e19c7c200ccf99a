/**
 * Mailings in the platform's API (`/v1/internal/mailings`, bearer `INTERNAL_API_TOKEN`), in snake_case JSON:
 *
 * - `POST /v1/internal/mailings`: creates one (body up to 16 MB: a list of up to 100,000 ids) -> `201` with the
 *   mailing; `200` with the existing one for a repeated `idempotency_key`. Bodies over 1 MB (or of unknown
 *   length) are read two at a time per process, the others wait; a list over 100,000 ids is refused before the
 *   ids are decoded;
 * - `GET /v1/internal/mailings?status=&limit=`: the latest mailings, without counts;
 * - `GET /v1/internal/mailings/{id}`: the mailing with its progress and current rate;
 * - `POST /v1/internal/mailings/{id}/pause` (optional `{"reason"}`: pausing a paused mailing with a reason
 *   replaces its reason), `/resume`, `/cancel` (no body, or `{}`) -> `200` with the mailing.
 * Ids are UUIDs, in either case.
 *
 * Errors: `400` (`invalid_json`, `invalid_request`, `unknown_template`, `invalid_vars`, `consent_not_allowed`),
 * `404` `mailing_not_found`, `409` `illegal_transition` (resume a completed mailing) or `paused_too_long`
 * (resume a mailing paused more than 47 h ago), `503` `busy` with `Retry-After` (a wave held the mailing for
 * more than 3 s; nothing changed), in the contract's shape.
 */
import { ByteSize, Effect, type Redacted, Schema, Semaphore } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { type Mailing, Mailings, type MailingRecord } from "../../services/Mailings.ts"
import {
  EmptyRequest,
  type MailingError,
  type MailingStatus,
  NewMailing,
  PauseRequest
} from "../../services/mailings/Model.ts"
import { maxListed } from "../../services/mailings/Segments.ts"
import { noStore, strict } from "./AuthApi.ts"
import { errorResponse } from "./ErrorResponse.ts"
import { internalRoute } from "./Internal.ts"

const statuses: ReadonlyArray<MailingStatus> = ["scheduled", "running", "paused", "completed", "cancelled"]
const decodeNew = Schema.decodeUnknownEffect(NewMailing)
const decodePause = Schema.decodeUnknownEffect(PauseRequest)
const decodeEmpty = Schema.decodeUnknownEffect(EmptyRequest)

/** A create body larger than this waits for one of `largeCreates` permits. */
const largeBody = 1_000_000
const largeCreates = 2

export const layer = (token: Redacted.Redacted<string>) =>
  HttpRouter.use((router) =>
    Effect.gen(function*() {
      const mailings = yield* Mailings
      const route = internalRoute(token)
      // A 16 MB list is parsed and decoded in memory (several times its size): a few at once, not a burst.
      const large = yield* Semaphore.make(largeCreates)

      const answer = (mailing: Mailing, status = 200) =>
        HttpServerResponse.jsonUnsafe(mailingJson(mailing), { status, headers: noStore })

      const failure = (error: MailingError) => {
        const reason = error.reason
        switch (reason._tag) {
          case "MailingNotFound":
            return Effect.succeed(errorResponse(404, "mailing_not_found", reason.message))
          case "IllegalTransition":
            return Effect.succeed(errorResponse(409, "illegal_transition", reason.message))
          case "PausedTooLong":
            return Effect.succeed(errorResponse(409, "paused_too_long", reason.message))
          case "MailingBusy":
            return Effect.succeed(errorResponse(503, "busy", reason.message, { ...noStore, "retry-after": "2" }))
          case "InvalidMailing":
            return Effect.succeed(errorResponse(400, reason.code, reason.message))
        }
      }

      const idParam = Effect.map(HttpRouter.params, (params) => params["id"] ?? "")

      /** The body as JSON (`invalid_json` when it is not); nothing at all (or blanks) reads as `{}`. */
      const jsonBody = Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const text = yield* request.text
        return text.trim() === "" ? {} : yield* request.json
      })

      const create = Effect.gen(function*() {
        const json = yield* (yield* HttpServerRequest.HttpServerRequest).json
        // Counted before decoding: a list too long is refused without checking each of its ids.
        const listed = listedCount(json)
        if (listed !== undefined && listed > maxListed) {
          return errorResponse(400, "invalid_request", `invalid request body: segment.user_ids lists ${listed} ids, at most ${maxListed}`)
        }
        const { created, mailing } = yield* mailings.create(yield* decodeNew(json, strict))
        return answer(mailing, created ? 201 : 200)
      })

      yield* router.add("POST", "/v1/internal/mailings", route("mailings", Effect.gen(function*() {
        const length = Number((yield* HttpServerRequest.HttpServerRequest).headers["content-length"] ?? Number.NaN)
        return yield* (Number.isFinite(length) && length <= largeBody ? create : large.withPermit(create))
      }).pipe(Effect.catchTag("MailingError", failure)), ByteSize.megabytes(16)))

      yield* router.add("GET", "/v1/internal/mailings", route("mailings", Effect.gen(function*() {
        const params = yield* HttpServerRequest.ParsedSearchParams
        const status = params["status"]
        const limit = Number(params["limit"] ?? 50)
        if (status !== undefined && !statuses.includes(status as MailingStatus)) {
          return errorResponse(400, "invalid_request", `status must be one of ${statuses.join(", ")}`)
        }
        if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
          return errorResponse(400, "invalid_request", "limit must be an integer from 1 to 500")
        }
        const list = yield* mailings.list({ limit, status: status as MailingStatus | undefined })
        return HttpServerResponse.jsonUnsafe({ mailings: list.map(recordJson) }, { headers: noStore })
      })))

      yield* router.add("GET", "/v1/internal/mailings/:id", route("mailings", Effect.gen(function*() {
        return answer(yield* mailings.get(yield* idParam))
      }).pipe(Effect.catchTag("MailingError", failure))))

      yield* router.add("POST", "/v1/internal/mailings/:id/pause", route("mailings", Effect.gen(function*() {
        const body = yield* decodePause(yield* jsonBody, strict)
        return answer(yield* mailings.pause(yield* idParam, body.reason))
      }).pipe(Effect.catchTag("MailingError", failure))))

      yield* router.add("POST", "/v1/internal/mailings/:id/resume", route("mailings", Effect.gen(function*() {
        yield* decodeEmpty(yield* jsonBody, strict)
        return answer(yield* mailings.resume(yield* idParam))
      }).pipe(Effect.catchTag("MailingError", failure))))

      yield* router.add("POST", "/v1/internal/mailings/:id/cancel", route("mailings", Effect.gen(function*() {
        yield* decodeEmpty(yield* jsonBody, strict)
        return answer(yield* mailings.cancel(yield* idParam))
      }).pipe(Effect.catchTag("MailingError", failure))))
    })
  )

/** How many ids a create body lists, if it lists any (`segment.user_ids` an array). */
const listedCount = (json: unknown): number | undefined => {
  if (typeof json !== "object" || json === null || !("segment" in json)) return undefined
  const segment = json.segment
  if (typeof segment !== "object" || segment === null || !("user_ids" in segment)) return undefined
  return Array.isArray(segment.user_ids) ? segment.user_ids.length : undefined
}

const iso = (date: Date | null) => date === null ? null : date.toISOString()

const recordJson = (m: MailingRecord) => ({
  id: m.id,
  name: m.name,
  template: m.template,
  vars: m.vars,
  consent: m.consent,
  segment: m.segment,
  status: m.status,
  pause_reason: m.pauseReason,
  send_at: iso(m.sendAt),
  wave_size: m.waveSize,
  wave_pause_ms: m.wavePauseMs,
  jitter_ms: m.jitterMs,
  max_block_rate: m.maxBlockRate,
  max_failure_rate: m.maxFailureRate,
  min_sample: m.minSample,
  recipients: m.recipients,
  waves: m.waves,
  next_wave_at: iso(m.nextWaveAt),
  created_by: m.createdBy,
  created_at: iso(m.createdAt),
  started_at: iso(m.startedAt),
  paused_at: iso(m.pausedAt),
  finished_at: iso(m.finishedAt)
})

/** The mailing with its progress: every recipient is in exactly one of the counts. */
export const mailingJson = (m: Mailing) => ({
  ...recordJson(m),
  progress: {
    pending: m.progress.pending,
    queued: m.progress.queued,
    sent: m.progress.sent,
    blocked: m.progress.blocked,
    failed: m.progress.failed,
    cancelled: m.progress.cancelled,
    skipped: {
      unlinked: m.progress.skipped.unlinked,
      no_consent: m.progress.skipped.noConsent,
      unreachable: m.progress.skipped.unreachable
    }
  },
  rate_per_s: m.ratePerSecond
})
