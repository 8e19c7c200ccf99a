/**
 * The grammY context the bot's features see: the update, an `api` whose calls go through the `Sender`, the
 * chat's session (loaded by the chat actor, saved when the handler returns) and the chat's texts.
 */
import { Schema } from "effect"
import type { Context } from "grammy"
import type { Arrival } from "../../services/Arrivals.ts"
import type { ConsentChanges, Consents } from "../../services/Identity.ts"
import type { Mission, PromoOutcome, Tournament } from "../../services/Platform.ts"
import type { Language, Texts } from "./texts/index.ts"

/** What a promo code attempt came to, as the chat is told. */
export type PromoAnswer =
  | PromoOutcome
  | { readonly status: "not_linked" | "rate_limited" | "unavailable"; readonly bonus: null }

/** A tournament as listed in the chat: whether "Remind me 5 minutes before" can still be set for it. */
export type ListedTournament = Tournament & { readonly remindable: boolean }

/** What "Remind me" came to, as the chat is told (`title`: the tournament's, for the confirmation). */
export type ReminderAnswer =
  | { readonly result: "set" | "already_set"; readonly tournamentId: string; readonly title: string }
  | { readonly result: "too_late" | "not_found" | "limit_reached" | "unavailable" }

export const BotSession = Schema.Struct({
  language: Schema.optional(Schema.Literals(["en", "it"])),
  startedAt: Schema.optional(Schema.Number),
  /** A `link_account` deep link waiting for its player's confirmation, until `until` (ms since the epoch). */
  pendingLink: Schema.optional(Schema.Struct({
    platformUserId: Schema.String,
    telegramUserId: Schema.Number,
    until: Schema.Number
  })),
  /** A multi-step flow in progress: the next text message belongs to it (kept across restarts and takeovers). */
  flow: Schema.optional(Schema.Struct({ kind: Schema.Literals(["promo", "ticket"]), attempts: Schema.Number }))
})
export type BotSession = typeof BotSession.Type

/** What the features need from the outside world, run as plain promises inside grammY handlers. */
export type BotDeps = {
  readonly recordStart: (chat: { id: number; type: string }, language: string | undefined) => Promise<void>
  readonly publicUrl: string | undefined
  /** The Mini App (`PUBLIC_URL` + `/app/`, https only); `undefined` when not configured. */
  readonly appUrl: string | undefined
  /** The operator's web cabinet (https), where money moves; `undefined` when not configured. */
  readonly cabinetUrl: string | undefined
  /** Resolves a deep-link token for the update's user and carries out its action (`services/Arrivals.ts`). */
  readonly arrive: (token: string) => Promise<Arrival>
  /** Links the update's user to `platformUserId` after confirmation. */
  readonly confirmLink: (platformUserId: string) => Promise<"linked" | "already_linked">
  /** The user's consents and whether the account is linked (the user's identity is created if new). */
  readonly settings: () => Promise<{ readonly consents: Consents; readonly linked: boolean }>
  /** Changes some consents; answers the settings after the change. */
  readonly setConsents: (changes: ConsentChanges) => Promise<{ readonly consents: Consents; readonly linked: boolean }>
  /** Keeps the language chosen in the settings with the user's identity, so notifications use it too. */
  readonly setLanguage: (language: Language) => Promise<void>
  /** Unlinks the update's user; `false` when nothing was linked. */
  readonly unlink: () => Promise<boolean>
  /** Running and upcoming tournaments, soonest first. */
  readonly tournaments: () => Promise<ReadonlyArray<ListedTournament> | "unavailable">
  /**
   * Sets "remind me 5 minutes before" for the update's user in this chat; `tournament` is a button's argument (the
   * id, or its digest: `CallbackData.idMatches`).
   */
  readonly remind: (tournament: string) => Promise<ReminderAnswer>
  /**
   * Cancels the update's user's pending reminder of the tournament (a button's argument); `false`: none was set.
   * The same update handled again answers `true` again for the reminder it cancelled.
   */
  readonly cancelReminder: (tournament: string) => Promise<boolean>
  /** The update's user's open missions. */
  readonly missions: () => Promise<ReadonlyArray<Mission> | "not_linked" | "unavailable">
  /** Asks the platform's support for an operator in this chat. */
  readonly requestOperator: () => Promise<void>
  /** Opens a support ticket with the player's description; answers its number. */
  readonly openTicket: (description: string) => Promise<number>
  /** Activates a promo code for the update's user's platform account, within the user's budget of attempts. */
  readonly activatePromo: (code: string) => Promise<PromoAnswer>
}

export type BotContext = Context & {
  session: BotSession
  readonly language: Language
  readonly t: Texts
  readonly deps: BotDeps
}
