/**
 * "Remind me 5 minutes before": a player's reminders of upcoming tournaments, set from the bot or the Mini App,
 * fired by the notifier role (`ReminderScheduler.ts`) as the `tournament_reminder` template in the chat given.
 *
 * Setting asks the platform for the tournament (unless the caller just listed it), which must be upcoming and start
 * more than 5 minutes from now (else `too_late`); unknown, finished or running tournaments answer `not_found`. A
 * player has one pending reminder per tournament (setting it again answers `already_set` with it) and at most
 * `REMINDERS_PER_USER` pending ones (`limit_reached`). The tournament's name, start and rules page are copied into
 * the reminder, in the shape the template accepts, so firing needs no call to the platform.
 *
 * Setting and cancelling remember what asked (`update:<id>` for the bot): the same update handled again (its reply
 * failed, its worker died) is answered as the first time, `set` and cancelled, not `already_set` and "none".
 */
import { clip } from "../src/domain/Text.ts"
import { Clock, Context, Effect, Layer, Metric, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Env from "../src/config.ts"
import * as Metrics from "../src/metrics.ts"
import { HttpsUrl, Id as TemplateId } from "../src/notify/Template.ts"
import { Platform, type PlatformError, type Tournament } from "./Platform.ts"

/** How long before the start a reminder fires. */
export const leadMs = 5 * 60_000

export type ReminderStatus = "pending" | "fired" | "skipped" | "cancelled"

export type Reminder = {
  readonly id: string
  readonly telegramUserId: number
  readonly chatId: number
  readonly tournamentId: string
  readonly tournamentName: string
  readonly startsAt: Date
  readonly rulesUrl: string | null
  readonly fireAt: Date
  readonly status: ReminderStatus
  readonly createdAt: Date
}

export type SetOutcome =
  | { readonly result: "set" | "already_set"; readonly reminder: Reminder }
  | { readonly result: "too_late" | "not_found" | "limit_reached" }

export class Reminders extends Context.Service<Reminders, {
  readonly set: (request: {
    readonly telegramUserId: number
    /** Where the reminder is sent: the bot's chat with the player. */
    readonly chatId: number
    readonly tournamentId: string
    /** The tournament as the platform listed it among the upcoming ones a moment ago: not asked for again. */
    readonly upcoming?: Tournament | undefined
    /** What asked: `update:<id>` (the bot) or `app`. The same update asking again (a re-run) is answered `set` again. */
    readonly source: string
  }) => Effect.Effect<SetOutcome, SqlError | PlatformError>
  /**
   * Cancels the player's pending reminder of the tournament; `false` when there was none. `by`: what asked
   * (`update:<id>` or `app`); a reminder the same update cancelled before (a re-run) answers `true` again.
   */
  readonly cancel: (telegramUserId: number, tournamentId: string, by: string) => Effect.Effect<boolean, SqlError>
  /** The player's pending reminders, the soonest first; with `cancelledBy`, also those that update cancelled. */
  readonly list: (
    telegramUserId: number,
    options?: { readonly cancelledBy?: string }
  ) => Effect.Effect<ReadonlyArray<Reminder>, SqlError>
}>()("tg-gateway/services/Reminders") {
  static readonly layer = Layer.effect(Reminders)(
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const platform = yield* Platform
      const perUser = yield* Env.remindersPerUser

      const pendingOf = (telegramUserId: number, tournamentId: string) =>
        Effect.map(sql<Row>`
          SELECT * FROM reminders
          WHERE telegram_user_id = ${telegramUserId} AND tournament_id = ${tournamentId} AND status = 'pending'
        `, (rows) => rows[0] === undefined ? undefined : toReminder(rows[0]))

      const again = (row: Reminder & { readonly source: string }, source: string): SetOutcome => ({
        result: row.source === source && source.startsWith("update:") ? "set" : "already_set",
        reminder: row
      })

      const fresh = Effect.fn("Reminders.insert")(function*(
        request: Parameters<Reminders["Service"]["set"]>[0],
        tournament: Tournament
      ) {
        const fields = reminderFields(tournament)
        // One player's requests are counted and written one at a time, so two at once cannot both pass the cap.
        yield* sql`SELECT pg_advisory_xact_lock(hashtextextended(${`reminders:${request.telegramUserId}`}, 0))`
        const counted = yield* sql<{ n: string }>`
          SELECT count(*) AS n FROM reminders
          WHERE telegram_user_id = ${request.telegramUserId} AND status = 'pending' AND tournament_id <> ${fields.tournamentId}
        `
        if (Number(counted[0]!.n) >= perUser) return { result: "limit_reached" } as const
        // A pending one set meanwhile (another process, another tap) is answered as it is, not doubled.
        const rows = yield* sql<Row & { readonly inserted: boolean }>`
          INSERT INTO reminders (telegram_user_id, chat_id, tournament_id, tournament_name, starts_at, rules_url, fire_at, source)
          VALUES (${request.telegramUserId}, ${request.chatId}, ${fields.tournamentId}, ${fields.tournamentName},
                  ${fields.startsAt}, ${fields.rulesUrl}, ${fields.fireAt}, ${request.source})
          ON CONFLICT (telegram_user_id, tournament_id) WHERE status = 'pending'
          DO UPDATE SET source = reminders.source
          RETURNING *, (xmax = 0) AS inserted
        `
        const row = toReminder(rows[0]!)
        return rows[0]!.inserted ? { result: "set", reminder: row } as const : again(row, request.source)
      }, (effect) => sql.withTransaction(effect))

      const set = Effect.fn("Reminders.set")(function*(request: Parameters<Reminders["Service"]["set"]>[0]) {
        const outcome = yield* Effect.gen(function*() {
          const existing = yield* pendingOf(request.telegramUserId, request.tournamentId)
          if (existing !== undefined) return again(existing, request.source)
          const tournament = request.upcoming?.id === request.tournamentId
            ? request.upcoming
            : (yield* platform.tournaments({ status: "upcoming" })).find((t) => t.id === request.tournamentId)
          if (tournament === undefined || !hasRemindableId(tournament) || !datesParse(tournament)) {
            return { result: "not_found" } as const
          }
          if (!remindable(tournament, yield* Clock.currentTimeMillis)) return { result: "too_late" } as const
          return yield* fresh(request, tournament)
        })
        yield* Metric.update(Metrics.reminders(outcome.result), 1)
        return outcome
      })

      const cancel = Effect.fn("Reminders.cancel")(function*(telegramUserId: number, tournamentId: string, by: string) {
        // Cancelled by this very update before (it is handled again): the same answer, and nothing set since is touched.
        const rerun = by.startsWith("update:") ? by : null
        const rows = yield* sql<{ readonly cancelled: boolean; readonly before: boolean }>`
          WITH before AS (
            SELECT 1 FROM reminders
            WHERE cancelled_by = ${rerun} AND status = 'cancelled'
              AND telegram_user_id = ${telegramUserId} AND tournament_id = ${tournamentId}
            LIMIT 1
          ), cancelled AS (
            UPDATE reminders SET status = 'cancelled', cancelled_at = now(), cancelled_by = ${by}
            WHERE telegram_user_id = ${telegramUserId} AND tournament_id = ${tournamentId} AND status = 'pending'
              AND NOT EXISTS (SELECT 1 FROM before)
            RETURNING id
          )
          SELECT EXISTS (SELECT 1 FROM cancelled) AS cancelled, EXISTS (SELECT 1 FROM before) AS before
        `
        if (rows[0]!.cancelled) yield* Metric.update(Metrics.reminders("cancelled"), 1)
        return rows[0]!.cancelled || rows[0]!.before
      })

      const list = Effect.fn("Reminders.list")(function*(
        telegramUserId: number,
        options?: { readonly cancelledBy?: string }
      ) {
        const cancelledBy = options?.cancelledBy
        const rows = yield* sql<Row>`
          SELECT * FROM reminders
          WHERE telegram_user_id = ${telegramUserId}
            AND (status = 'pending' ${cancelledBy === undefined ? sql`` : sql`OR (status = 'cancelled' AND cancelled_by = ${cancelledBy})`})
          ORDER BY fire_at, id
        `
        return rows.map(toReminder)
      })

      return { set, cancel, list }
    })
  )
}

/**
 * The tournament can be reminded of: its id is one the `tournament_reminder` template accepts, a platform id
 * (1-128 printable characters, no whitespace) as the platform API defines it.
 */
export const hasRemindableId = (tournament: Tournament): boolean => Schema.is(TemplateId)(tournament.id)

/** The tournament's start and end are real instants (a timestamp of the right shape may still be no date). */
export const datesParse = (tournament: Tournament): boolean =>
  Number.isFinite(Date.parse(tournament.startsAt)) && Number.isFinite(Date.parse(tournament.endsAt))

/** A reminder can be set now (`nowMs`): upcoming, starting more than 5 minutes from now, with a usable id. */
export const remindable = (tournament: Tournament, nowMs: number): boolean =>
  tournament.status === "upcoming" && hasRemindableId(tournament) && datesParse(tournament) &&
  Date.parse(tournament.startsAt) - leadMs > nowMs

/**
 * What a reminder keeps of its tournament, in the shape the `tournament_reminder` template accepts: the title (or,
 * without one, the id) on one line and at most 100 UTF-16 units, the rules page only when https. The tournament's
 * dates must parse (`datesParse`).
 */
export const reminderFields = (tournament: Tournament) => {
  const startsAt = new Date(Date.parse(tournament.startsAt))
  const title = tournament.title.replace(/[\r\n\t]+/g, " ").trim()
  return {
    tournamentId: tournament.id,
    tournamentName: clip(title === "" ? tournament.id : title, maxTitle),
    startsAt,
    rulesUrl: tournament.rulesUrl !== null && Schema.is(HttpsUrl)(tournament.rulesUrl) ? tournament.rulesUrl : null,
    fireAt: new Date(startsAt.getTime() - leadMs)
  }
}

/** The template's `Title`: at most 100 UTF-16 units (what Schema's length check counts). */
const maxTitle = 100

type Row = {
  readonly id: string | number
  readonly telegram_user_id: string | number
  readonly chat_id: string | number
  readonly tournament_id: string
  readonly tournament_name: string
  readonly starts_at: Date
  readonly rules_url: string | null
  readonly fire_at: Date
  readonly status: ReminderStatus
  readonly source: string
  readonly created_at: Date
}

const toReminder = (row: Row): Reminder & { readonly source: string } => ({
  id: String(row.id),
  telegramUserId: Number(row.telegram_user_id),
  chatId: Number(row.chat_id),
  tournamentId: row.tournament_id,
  tournamentName: row.tournament_name,
  startsAt: row.starts_at,
  rulesUrl: row.rules_url,
  fireAt: row.fire_at,
  status: row.status,
  source: row.source,
  createdAt: row.created_at
})
