/**
 * What the sender tells about queued messages that carry a `receipt` (a mailing's recipient): their outcome,
 * recorded before the outbox entry is acknowledged, and whether they may still be sent at all (a paused or
 * cancelled mailing holds its messages back). The outbox stays generic; mailings implement this service.
 */
import { Context, Effect, Layer, Schema } from "effect"

/**
 * How a queued message ended: sent, 403 (the chat is unreachable), refused or failing (dead-lettered), held, or
 * withdrawn before sending because the player unlinked the chat or turned the consent off (`OutboxGuard`), or not
 * sent because its deadline passed while it waited (`late`), or given up unsent because the sender's Redis kept
 * failing (`store_unavailable`: nothing is known against sending it again later).
 */
export type ReceiptOutcome =
  | "sent"
  | "unreachable"
  | "dead_letter"
  | "unlinked"
  | "no_consent"
  | "late"
  | "store_unavailable"
  | HoldOutcome

/** Why a message was not sent after all: held back until its sender resumes, or never to be sent. */
export type HoldOutcome = "withheld" | "cancelled"

/** The receipts' store did not answer; the sender tries again (the entry stays unacknowledged meanwhile). */
export class ReceiptError extends Schema.TaggedError<ReceiptError>()("ReceiptError", { cause: Schema.Defect() }) {}

export class OutboxReceipts extends Context.Service<OutboxReceipts, {
  /**
   * Completes, with why, once messages with this receipt must not be sent (any more); never while they may be.
   * The sender races its send against it: a send that has not started its request is given up.
   */
  readonly hold: (receipt: string) => Effect.Effect<HoldOutcome>
  /** Records a message's outcome. Told again for an entry delivered again, so it must be idempotent per chat. */
  readonly record: (receipt: string, chatId: number, outcome: ReceiptOutcome) => Effect.Effect<void, ReceiptError>
}>()("tg-gateway/streams/OutboxReceipts") {
  /** No receipts: nothing is held, outcomes are not recorded. */
  static readonly layerNone = Layer.succeed(OutboxReceipts)({ hold: () => Effect.never, record: () => Effect.void })
}
