/**
 * Runs the bot's Composer for one update inside a chat actor: the `UpdateHandler` of production.
 *
 * Each update gets its own grammY `Api` whose transformer hands every call to the actor's `outbound` (the
 * `Sender`, with per-update idempotency keys) instead of the network; Telegram's answers, errors included,
 * come back to grammY in the Bot API's own envelope. The session is decoded with Schema and saved by the actor.
 */
import { Cause, Clock, type Context, Effect, Exit, Layer, Option, Schema, Schedule } from "effect"
import { Api, Context as GrammyContext, type Transformer } from "grammy"
import type { Update } from "grammy/types"
import * as Env from "../config.ts"
import { Arrivals } from "../../services/Arrivals.ts"
import { Chats } from "../../services/Chats.ts"
import { Identity, type IdentityRecord } from "../../services/Identity.ts"
import type { SqlError } from "effect/sql/SqlError"
import { SupportTickets } from "../../services/SupportTickets.ts"
import { GatewayEvents } from "../../services/GatewayEvents.ts"
import * as Redis from "effect/persistence/Redis"
import { Keys } from "../../streams/Keys.ts"
import { type Mission, Platform, type PlatformError } from "../../services/Platform.ts"
import { Reminders, remindable } from "../../services/Reminders.ts"
import * as RateLimiter from "effect/persistence/RateLimiter"
import { Sender } from "../../services/Sender.ts"
import { HandlerError, type Outbound, UpdateHandler } from "../../services/UpdateHandler.ts"
import { bot } from "./Bot.ts"
import { type BotContext, type BotDeps, BotSession, type PromoAnswer, type ReminderAnswer } from "./BotContext.ts"
import * as CallbackData from "./CallbackData.ts"
import { languageOf, texts } from "./texts/index.ts"

const decodeSession = Schema.decodeUnknownOption(BotSession)

/** Tournaments listed in the chat at once (one message, two buttons each). */
const maxTournaments = 5

/** An `Api` that never touches the network: its calls become `outbound` calls. */
const apiFor = (outbound: Outbound, run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>) => {
  const api = new Api("0:outbound")
  const transformer: Transformer = async (_previous, method, payload) => {
    const exit = await run(outbound(method, payload as Record<string, unknown>))
    if (Exit.isSuccess(exit)) return { ok: true, result: exit.value as never }
    const error = Cause.squash(exit.cause)
    if (error instanceof Error && "reason" in error) {
      const reason = (error as { reason: { _tag: string; code?: number; description?: string; retryAfter?: number } })
        .reason
      if (reason._tag === "TelegramError") {
        return {
          ok: false,
          error_code: reason.code ?? 500,
          description: reason.description ?? "",
          ...(reason.retryAfter === undefined ? {} : { parameters: { retry_after: reason.retryAfter } })
        }
      }
    }
    throw error
  }
  api.config.use(transformer)
  return api
}

export const layer = Layer.effect(UpdateHandler)(
  Effect.gen(function*() {
    const sender = yield* Sender
    const chats = yield* Chats
    const arrivals = yield* Arrivals
    const identity = yield* Identity
    const platform = yield* Platform
    const tickets = yield* SupportTickets
    const reminders = yield* Reminders
    const events = yield* GatewayEvents
    const redis = yield* Redis.Redis
    const keys = yield* Keys
    const limiter = yield* RateLimiter.RateLimiter
    const promoAttempts = yield* Env.promoAttemptsPerHour
    const publicUrl = Option.getOrUndefined(yield* Env.publicUrl)
    const appUrl = yield* Env.appUrl
    const cabinetUrl = yield* Env.cabinetLink
    const me = yield* sender.botInfo.pipe(
      Effect.tapError((error) => Effect.logWarning("getMe failed, retrying", { error: error.message })),
      Effect.retry({ schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered), times: 8 })
    )
    const middleware = bot.middleware()

    /** Runs effects from grammY's promises in the update's own context, so their spans join its trace. */
    const runnerIn = (context: Context.Context<never>) => <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.runPromiseExitWith(context)(effect)

    /** A platform failure shown as "can't be shown right now" (and logged), not as a failed update. */
    const orUnavailable = <A>(effect: Effect.Effect<A, PlatformError>) =>
      effect.pipe(Effect.catch((error) =>
        Effect.as(Effect.logWarning("platform call failed", { reason: error.reason._tag }), "unavailable" as const)))

    const tournaments = Effect.all([platform.tournaments({ status: "running" }), platform.tournaments({ status: "upcoming" })])
      .pipe(
        Effect.map(([running, upcoming]) =>
          [...running, ...upcoming].sort((a, b) => a.startsAt.localeCompare(b.startsAt)).slice(0, maxTournaments)),
        Effect.flatMap((list) =>
          Effect.map(Clock.currentTimeMillis, (now) => list.map((t) => ({ ...t, remindable: remindable(t, now) })))),
        orUnavailable
      )

    /**
     * "Remind me 5 minutes before" from a button: its argument is the tournament's id, or a digest of it matched
     * against the upcoming tournaments (the one found is handed on, not asked for again). Asked again by the same
     * update (a re-run), the answer is `set` again.
     */
    const remind = (known: Effect.Effect<IdentityRecord, SqlError>, chatId: number, arg: string, updateId: number) =>
      Effect.gen(function*() {
        const record = yield* known
        const upcoming = arg.startsWith("~")
          ? (yield* platform.tournaments({ status: "upcoming" })).find((t) => CallbackData.idMatches(arg, t.id))
          : undefined
        const tournamentId = arg.startsWith("~") ? upcoming?.id : arg
        if (tournamentId === undefined) return { result: "not_found" } satisfies ReminderAnswer
        const outcome = yield* reminders.set({
          telegramUserId: record.telegramUserId,
          chatId,
          tournamentId,
          upcoming,
          source: `update:${updateId}`
        })
        const answer: ReminderAnswer = outcome.result === "set" || outcome.result === "already_set"
          ? { result: outcome.result, tournamentId, title: outcome.reminder.tournamentName }
          : { result: outcome.result }
        return answer
      }).pipe(Effect.catchTag("PlatformError", (error) =>
        Effect.as(Effect.logWarning("platform call failed", { reason: error.reason._tag }), { result: "unavailable" } as const)))

    /**
     * Cancels from a button: a digest argument is matched against the player's pending reminders (and the one this
     * update cancelled, when it is handled again: answered "cancelled" again).
     */
    const cancelReminder = (telegramUserId: number, arg: string, updateId: number) =>
      Effect.gen(function*() {
        const by = `update:${updateId}`
        const tournamentId = arg.startsWith("~")
          ? (yield* reminders.list(telegramUserId, { cancelledBy: by }))
            .find((r) => CallbackData.idMatches(arg, r.tournamentId))?.tournamentId
          : arg
        return tournamentId === undefined ? false : yield* reminders.cancel(telegramUserId, tournamentId, by)
      })

    /**
     * A promo code for the identity's platform account, within the player's hourly budget of attempts. The
     * answer is kept per update: the update handled again (its reply failed, the worker died) shows the same
     * answer instead of asking the platform again, which would say "already used" after an activation.
     */
    const activatePromo = (known: Effect.Effect<IdentityRecord, SqlError>, code: string, updateId: string) =>
      Effect.gen(function*() {
        const key = `${keys.prefix}promo:answer:${updateId}`
        const kept = yield* redis.send<string | null>("GET", key)
        if (kept !== null) return JSON.parse(kept) as PromoAnswer
        const answer = yield* freshPromoAnswer(known, code)
        yield* redis.send("SET", key, JSON.stringify(answer), "EX", String(2 * 86_400))
        return answer
      })

    const freshPromoAnswer = (known: Effect.Effect<IdentityRecord, SqlError>, code: string) =>
      Effect.gen(function*() {
        const record = yield* known
        if (record.platformUserId === null) return { status: "not_linked", bonus: null } as const
        // Per platform account: several Telegram accounts linked to one player share its budget.
        const budget = yield* limiter.consume({
          algorithm: "fixed-window",
          window: "1 hour",
          limit: promoAttempts,
          key: `promo:${record.platformUserId}`,
          onExceeded: "fail"
        }).pipe(Effect.result)
        if (budget._tag === "Failure") {
          if (budget.failure.reason._tag === "RateLimitExceeded") return { status: "rate_limited", bonus: null } as const
          return yield* Effect.fail(budget.failure)
        }
        return yield* platform.activatePromo(record.platformUserId, code).pipe(
          Effect.catch((error): Effect.Effect<PromoAnswer> =>
            Effect.as(
              Effect.logWarning("promo code not checked", { reason: error.reason._tag }),
              { status: "unavailable", bonus: null }
            )
          )
        )
      })

    /** Runs an effect for a grammY handler: its value, or its failure thrown (the actor retries the update). */
    const promised = async <A, E>(run: ReturnType<typeof runnerIn>, effect: Effect.Effect<A, E>): Promise<A> => {
      const exit = await run(effect)
      if (Exit.isFailure(exit)) throw Cause.squash(exit.cause)
      return exit.value
    }

    const depsFor = (run: ReturnType<typeof runnerIn>, update: Update): BotDeps => {
      const from = update.message?.from ?? update.callback_query?.from
      const chat = update.message?.chat ?? update.callback_query?.message?.chat
      // Event ids from the update: a handler run again after a crash publishes nothing twice.
      const who = (event: string) => ({
        telegramUserId: from?.id ?? 0,
        chatId: chat?.type === "private" ? chat.id : undefined,
        eventId: `${update.update_id}:${event}`
      })
      // The user's identity, created on first need (the simplified profile, as a first sign-in would).
      const known = identity.signIn({
        telegramUserId: from?.id ?? 0,
        username: from?.username,
        languageCode: from?.language_code,
        chatId: chat?.type === "private" ? chat.id : undefined
      }, "bot")
      return {
        publicUrl,
        appUrl,
        cabinetUrl,
        recordStart: (chat, languageCode) =>
          promised(run, chats.recordStart({ chatId: chat.id, chatType: chat.type, languageCode })),
        arrive: (token) => promised(run, arrivals.arrive(token, who("arrival"))),
        confirmLink: (platformUserId) => promised(run, arrivals.confirmLink(who("linked"), platformUserId)),
        settings: () => promised(run, Effect.map(known, (record) => ({ consents: record.consents, linked: record.platformUserId !== null }))),
        setConsents: (changes) =>
          promised(run, Effect.flatMap(known, (record) =>
            Effect.map(identity.setConsents(record.telegramUserId, changes, "user"), (consents) => ({
              consents: consents ?? record.consents,
              linked: record.platformUserId !== null
            })))),
        setLanguage: (language) =>
          promised(run, Effect.flatMap(known, (record) => identity.setLanguage(record.telegramUserId, language, "user"))),
        unlink: () => promised(run, arrivals.unlink(from?.id ?? 0, `${update.update_id}:unlinked`, "user")),
        activatePromo: (code) => promised(run, activatePromo(known, code, `${update.update_id}`)),
        tournaments: () => promised(run, tournaments),
        remind: (arg) => promised(run, remind(known, chat?.id ?? from?.id ?? 0, arg, update.update_id)),
        cancelReminder: (arg) => promised(run, cancelReminder(from?.id ?? 0, arg, update.update_id)),
        requestOperator: () =>
          promised(run, Effect.flatMap(known, (record) =>
            Effect.asVoid(events.publish(`${update.update_id}:operator`, {
              type: "support_operator_requested",
              telegram_user_id: record.telegramUserId,
              chat_id: chat?.id ?? record.telegramUserId,
              platform_user_id: record.platformUserId
            })))),
        openTicket: (description) =>
          promised(run, Effect.flatMap(known, (record) =>
            tickets.open({
              telegramUserId: record.telegramUserId,
              chatId: chat?.id ?? record.telegramUserId,
              platformUserId: record.platformUserId,
              description,
              source: `update:${update.update_id}`
            }))),
        missions: () =>
          promised(run, Effect.flatMap(known, (record): Effect.Effect<ReadonlyArray<Mission> | "not_linked" | "unavailable"> =>
            record.platformUserId === null
              ? Effect.succeed("not_linked")
              : platform.missions(record.platformUserId).pipe(orUnavailable)))
      }
    }

    return {
      handle: (input) =>
        Effect.flatMap(Effect.context<never>(), (context) =>
          Effect.tryPromise({
            try: async () => {
              const run = runnerIn(context)
              const session: BotSession = Option.getOrElse(decodeSession(input.session), () => ({}))
              const ctx = new GrammyContext(input.update as unknown as Update, apiFor(input.outbound, run), me)
              const language = languageOf(session.language, ctx.from?.language_code)
              Object.assign(ctx, { session, language, t: texts[language], deps: depsFor(run, input.update as unknown as Update) })
              await middleware(ctx as BotContext, async () => {})
              return (ctx as BotContext).session as Record<string, unknown>
            },
            catch: (cause) =>
              new HandlerError({ message: cause instanceof Error ? cause.message : String(cause), cause })
          }))
    }
  })
)
