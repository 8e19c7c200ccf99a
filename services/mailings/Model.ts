/**
 * A mailing as the platform's API creates it and as the gateway reports it: the request body (Schema, unknown
 * fields refused), the defaults of what it leaves out, the statuses of a mailing and of its recipients, and the
 * errors of the mailing operations.
 */
import { Schema } from "effect"
import { consentTypes, type ConsentType } from "../Identity.ts"
import { Segment } from "./Segments.ts"

export type MailingStatus = "scheduled" | "running" | "paused" | "completed" | "cancelled"

export type RecipientStatus =
  | "pending"
  | "queued"
  | "sent"
  | "blocked"
  | "failed"
  | "cancelled"
  | "skipped_unlinked"
  | "skipped_no_consent"
  | "skipped_unreachable"

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))
const rate = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))
const Text = (max: number) => Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(max))
/** An instant as ISO 8601 with its offset, e.g. `2026-12-01T20:00:00Z`. */
const Instant = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/),
  Schema.makeFilter((s: string) => !Number.isNaN(Date.parse(s)) || "a valid date and time")
)

/** `POST /v1/internal/mailings`. */
export const NewMailing = Schema.Struct({
  /** A label for people (the CRM's campaign name); not shown to players. */
  name: Schema.optional(Text(200)),
  template: Text(64),
  vars: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
  segment: Segment,
  /** The consent recipients need; only a transactional template may be given one (never loosened). */
  consent: Schema.optional(Schema.Literals(consentTypes)),
  /** When to start; unset or past: at once. */
  send_at: Schema.optional(Instant),
  wave_size: Schema.optional(between(1, 10_000)),
  wave_pause_ms: Schema.optional(between(0, 86_400_000)),
  jitter_ms: Schema.optional(between(0, 3_600_000)),
  /** Blocks / (sent + blocked + failed) in a wave above which the mailing pauses itself. */
  max_block_rate: Schema.optional(rate),
  /** Failures (Telegram refused, kept failing) / answered in a wave above which the mailing pauses itself. */
  max_failure_rate: Schema.optional(rate),
  /** Answers needed before a wave's rates are judged (small waves are judged together). */
  min_sample: Schema.optional(between(1, 100_000)),
  /** A repeated request with the same key answers the mailing the first one created. */
  idempotency_key: Schema.optional(Text(200)),
  created_by: Schema.optional(Text(100))
})
export type NewMailing = typeof NewMailing.Type

/** `POST .../pause`: an optional reason, shown with the mailing. */
export const PauseRequest = Schema.Struct({ reason: Schema.optional(Text(500)) })

/** `POST .../resume`, `.../cancel`: no fields (an empty `Schema.Struct` alone would let any object through). */
export const EmptyRequest = Schema.Struct({}).check(
  Schema.makeFilter((body: object) => (!Array.isArray(body) && Object.keys(body).length === 0) || "this action takes no fields")
)

/**
 * A paused mailing that had started may be resumed for this long after its pause: the sender remembers what it
 * sent for 48 h, and only that record keeps a message in doubt (a crash mid-send) from going out twice.
 */
export const resumableHours = 47

export const defaults = {
  waveSize: 500,
  wavePauseMs: 0,
  jitterMs: 500,
  maxBlockRate: 0.05,
  maxFailureRate: 0.2,
  minSample: 100
} as const

export type Progress = {
  /** Not released yet. */
  readonly pending: number
  /** Released, in the outbox, outcome not known yet. */
  readonly queued: number
  readonly sent: number
  readonly blocked: number
  readonly failed: number
  readonly cancelled: number
  readonly skipped: { readonly unlinked: number; readonly noConsent: number; readonly unreachable: number }
}

/** The progress from the count of a mailing's recipients by status. */
export const progressOf = (counts: ReadonlyArray<{ readonly status: string; readonly n: number }>): Progress => {
  const n = (status: string) => counts.find((c) => c.status === status)?.n ?? 0
  return {
    pending: n("pending"),
    queued: n("queued"),
    sent: n("sent"),
    blocked: n("blocked"),
    failed: n("failed"),
    cancelled: n("cancelled"),
    skipped: { unlinked: n("skipped_unlinked"), noConsent: n("skipped_no_consent"), unreachable: n("skipped_unreachable") }
  }
}

export type Mailing = {
  readonly id: string
  readonly name: string | null
  readonly template: string
  readonly vars: Readonly<Record<string, unknown>>
  /** The consent asked of recipients (`null`: none, a transactional template). */
  readonly consent: ConsentType | null
  readonly segment: Readonly<Record<string, unknown>>
  readonly status: MailingStatus
  readonly pauseReason: string | null
  readonly sendAt: Date | null
  readonly waveSize: number
  readonly wavePauseMs: number
  readonly jitterMs: number
  readonly maxBlockRate: number
  readonly maxFailureRate: number
  readonly minSample: number
  readonly recipients: number
  readonly waves: number
  readonly nextWaveAt: Date | null
  readonly createdBy: string | null
  readonly createdAt: Date
  readonly startedAt: Date | null
  readonly pausedAt: Date | null
  readonly finishedAt: Date | null
  readonly progress: Progress
  /** Recipients reached per second over the last 10 s. */
  readonly ratePerSecond: number
}

export type Action = "pause" | "resume" | "cancel"

/** No mailing has this id. */
export class MailingNotFound extends Schema.TaggedError<MailingNotFound>()("MailingNotFound", { id: Schema.String }) {
  override get message() {
    return `no mailing ${this.id}`
  }
}

/** The mailing's status does not allow this action (resume a completed one, pause a cancelled one). */
export class IllegalTransition extends Schema.TaggedError<IllegalTransition>()("IllegalTransition", {
  id: Schema.String,
  action: Schema.Literals(["pause", "resume", "cancel"]),
  status: Schema.String
}) {
  override get message() {
    return `a ${this.status} mailing cannot be ${this.action === "cancel" ? "cancelled" : `${this.action}d`}`
  }
}

/** A started mailing paused longer than `resumableHours`: resuming it could send some players a second message. */
export class PausedTooLong extends Schema.TaggedError<PausedTooLong>()("PausedTooLong", {
  id: Schema.String,
  pausedAt: Schema.Date
}) {
  override get message() {
    return `the mailing was paused at ${this.pausedAt.toISOString()}, more than ${resumableHours} h ago: the sender no ` +
      `longer remembers what it sent, so resuming could send a player the mailing twice; cancel it and create a new ` +
      `mailing for the players not reached`
  }
}

/** The mailing's row stayed locked (a wave being released waits for Redis): nothing changed, try again shortly. */
export class MailingBusy extends Schema.TaggedError<MailingBusy>()("MailingBusy", { id: Schema.String }) {
  override get message() {
    return `mailing ${this.id} is busy (a wave is being released); retry shortly`
  }
}

/** The request is well formed but cannot be a mailing (a consent that would loosen the template's). */
export class InvalidMailing extends Schema.TaggedError<InvalidMailing>()("InvalidMailing", {
  code: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** Why a mailing operation was refused. */
export class MailingError extends Schema.TaggedError<MailingError>()("MailingError", {
  reason: Schema.Union([MailingNotFound, IllegalTransition, PausedTooLong, MailingBusy, InvalidMailing])
}) {
  override get message() {
    return this.reason.message
  }
}

/** A row of `mailings`, as the driver gives it. */
export type MailingRow = {
  readonly id: string
  readonly name: string | null
  readonly template: string
  readonly vars: Record<string, unknown>
  readonly consent: ConsentType | null
  readonly segment: Record<string, unknown>
  readonly status: MailingStatus
  readonly pause_reason: string | null
  readonly send_at: Date | null
  readonly wave_size: number
  readonly wave_pause_ms: number
  readonly jitter_ms: number
  readonly max_block_rate: number
  readonly max_failure_rate: number
  readonly min_sample: number
  readonly recipients: number
  readonly waves: number
  readonly next_wave_at: Date
  readonly created_by: string | null
  readonly created_at: Date
  readonly started_at: Date | null
  readonly paused_at: Date | null
  readonly finished_at: Date | null
  /** The counts kept when the recipients were purged (`Runner.ts`); null while they are there. */
  readonly final_progress: Progress | null
}
