/**
 * The Mini App's tournament reminders ("Remind me 5 minutes before"), with the sign-in's bearer token, within the
 * Mini App data routes' rate limits (`APP_RATE_PER_MIN_IP`, `APP_RATE_PER_MIN_USER`):
 * - `POST /v1/tg/reminders` `{"tournament_id"}`: `201` with the reminder; `200` with it when it was already set;
 *   `404 not_found` (no such upcoming tournament), `409 too_late` (it starts in less than 5 minutes),
 *   `409 no_chat` (the player never started the bot: there is no chat to remind in), `409 reminder_limit`.
 * - `GET /v1/tg/reminders`: `200 {"reminders":[...]}`, the pending ones, the soonest first.
 * - `DELETE /v1/tg/reminders/{tournament_id}`: `204`, whether one was pending or not (a retried cancel succeeds);
 *   `400 invalid_request` "invalid tournament id" when the path's id is no platform id.
 * A reminder is `{"tournament_id","tournament_name","starts_at","rules_url","fire_at","status","created_at"}`.
 */
import { ByteSize, Effect, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { Identity } from "../../services/Identity.ts"
import { Id as TournamentId } from "../../services/platform/Model.ts"
import { type Reminder, Reminders } from "../../services/Reminders.ts"
import { TokenIssuer } from "../../services/TokenIssuer.ts"
import { apiRoute, noStore, strict } from "./AuthApi.ts"
import { AuthLimits } from "./AuthLimits.ts"
import { authenticator } from "./Bearer.ts"
import { errorResponse } from "./ErrorResponse.ts"

export const ReminderBody = Schema.Struct({ tournament_id: TournamentId })

const isTournamentId = Schema.is(TournamentId)

export const layer = HttpRouter.use((router) =>
  Effect.gen(function*() {
    const reminders = yield* Reminders
    const identity = yield* Identity
    // The Mini App's data routes' budgets: a player browsing tournaments taps often, and never uses up a sign-in.
    const authenticated = authenticator((yield* AuthLimits).app, yield* TokenIssuer)

    const route = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
      apiRoute("reminders", maxBodySize, handler)

    const json = (status: number, body: unknown) => HttpServerResponse.jsonUnsafe(body, { status, headers: noStore })

    yield* router.add("POST", "/v1/tg/reminders", route(Effect.gen(function*() {
      const claims = yield* authenticated
      const body = yield* HttpServerRequest.schemaBodyJson(ReminderBody, strict)
      // Reminders arrive in the bot's chat with the player, known once the player started the bot.
      const chatId = (yield* identity.get(claims.tgUid))?.chatId ?? null
      if (chatId === null) {
        return errorResponse(409, "no_chat", "start the bot in Telegram first: reminders are sent in its chat", noStore)
      }
      const outcome = yield* reminders.set({
        telegramUserId: claims.tgUid,
        chatId,
        tournamentId: body.tournament_id,
        source: "app"
      })
      switch (outcome.result) {
        case "set":
          return json(201, reminderJson(outcome.reminder))
        case "already_set":
          return json(200, reminderJson(outcome.reminder))
        case "not_found":
          return errorResponse(404, "not_found", "no upcoming tournament with this id", noStore)
        case "too_late":
          return errorResponse(409, "too_late", "the tournament starts in less than 5 minutes", noStore)
        case "limit_reached":
          return errorResponse(409, "reminder_limit", "too many reminders are set; cancel one first", noStore)
      }
    })))

    yield* router.add("GET", "/v1/tg/reminders", route(Effect.gen(function*() {
      const claims = yield* authenticated
      const list = yield* reminders.list(claims.tgUid)
      return json(200, { reminders: list.map(reminderJson) })
    })))

    yield* router.add("DELETE", "/v1/tg/reminders/:tournament_id", route(Effect.gen(function*() {
      const claims = yield* authenticated
      const { tournament_id } = yield* HttpRouter.params
      if (!isTournamentId(tournament_id)) return errorResponse(400, "invalid_request", "invalid tournament id", noStore)
      yield* reminders.cancel(claims.tgUid, tournament_id, "app")
      return HttpServerResponse.empty({ status: 204, headers: noStore })
    })))
  })
)

const maxBodySize = ByteSize.kilobytes(4)

export const reminderJson = (reminder: Reminder) => ({
  tournament_id: reminder.tournamentId,
  tournament_name: reminder.tournamentName,
  starts_at: reminder.startsAt.toISOString(),
  rules_url: reminder.rulesUrl,
  fire_at: reminder.fireAt.toISOString(),
  status: reminder.status,
  created_at: reminder.createdAt.toISOString()
})
