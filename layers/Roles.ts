/**
 * The layer each role needs, and the process made of the roles in `ROLES`.
 *
 * - `http`: the HTTP server (webhook, health, metrics; the sign-in API when `JWT_KEY_ENCRYPTION_KEY` is set,
 *   the platform's API when `INTERNAL_API_TOKEN` is set); in polling mode also the `getUpdates` poller.
 * - `worker`: partition ownership, partition readers, chat actors running the bot.
 * - `sender`: drains the outbox lanes (notify, bulk) of the outbox partitions it owns, within the shared limits.
 * - `notifier`: platform events (`platform:events`) into the outbox's notify lane, through consent and templates;
 *   the tournament reminders players set, fired when due (`services/ReminderScheduler.ts`); mailings released
 *   in waves into the bulk lane (`services/mailings/Runner.ts`).
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Config, Effect, Layer, Schedule } from "effect"
import { HttpMiddleware, HttpRouter } from "effect/http"
import * as Http from "node:http"
import * as Env from "../src/config.ts"
import * as BotHandler from "../src/bot/BotHandler.ts"
import * as Auth from "../src/http/Auth.ts"
import { AuthLimits } from "../src/http/AuthLimits.ts"
import * as Health from "../src/http/Health.ts"
import * as Internal from "../src/http/Internal.ts"
import * as HttpMailings from "../src/http/Mailings.ts"
import * as HttpReminders from "../src/http/Reminders.ts"
import * as Webhook from "../src/http/Webhook.ts"
import { BotApi } from "../services/BotApi.ts"
import { ChatState } from "../services/ChatState.ts"
import { Arrivals } from "../services/Arrivals.ts"
import { Chats } from "../services/Chats.ts"
import { GatewayEvents } from "../services/GatewayEvents.ts"
import { DeepLinks } from "../services/DeepLinks.ts"
import { Identity } from "../services/Identity.ts"
import { InitDataVerifier } from "../services/InitDataVerifier.ts"
import { LoginWidgetVerifier } from "../services/LoginWidgetVerifier.ts"
import { Platform } from "../services/Platform.ts"
import { Mailings } from "../services/Mailings.ts"
import * as MailingReceipts from "../services/mailings/Receipts.ts"
import * as MailingRunner from "../services/mailings/Runner.ts"
import * as ReminderScheduler from "../services/ReminderScheduler.ts"
import { Reminders } from "../services/Reminders.ts"
import { Sessions } from "../services/Sessions.ts"
import { SupportTickets } from "../services/SupportTickets.ts"
import { TokenIssuer } from "../services/TokenIssuer.ts"
import { Sender } from "../services/Sender.ts"
import { SendLimits } from "../services/SendLimits.ts"
import { ChatActors } from "../streams/ChatActors.ts"
import { Outbox } from "../streams/Outbox.ts"
import { OutboxSender } from "../streams/OutboxSender.ts"
import * as PlatformEvents from "../streams/PlatformEvents.ts"
import { Notifications } from "../services/Notifications.ts"
import { OutboxGuard } from "../services/OutboxGuard.ts"
import { Templates } from "../src/notify/Templates.ts"
import { Keys } from "../streams/Keys.ts"
import { PartitionOwnership } from "../streams/PartitionOwnership.ts"
import { UpdateIngest } from "../streams/UpdateIngest.ts"
import type { UpdateHandler } from "../services/UpdateHandler.ts"
import * as UpdatePoller from "../streams/UpdatePoller.ts"
import * as Postgres from "./Postgres.ts"
import * as RedisLayer from "./Redis.ts"
import * as Telemetry from "./Telemetry.ts"

/**
 * Redis, key names, Postgres (migrated), the Bot API client and the shared send limits (one dispenser per
 * process): what every role stands on.
 */
export const infrastructure = Layer.mergeAll(BotApi.layer, SendLimits.layer).pipe(
  Layer.provideMerge(Keys.layer),
  Layer.provideMerge(Layer.mergeAll(RedisLayer.layer, Postgres.layer))
)

/**
 * The sign-in API (`/v1/tg/*`, JWKS) and what it stands on. It needs `JWT_KEY_ENCRYPTION_KEY` (the signing keys
 * are stored encrypted with it); without it the gateway serves no sign-in routes and says so at start.
 */
export const signIn = Layer.unwrap(Effect.gen(function*() {
  const key = yield* Config.option(Env.jwtKeyEncryptionKey)
  if (key._tag === "None") {
    yield* Effect.logWarning("JWT_KEY_ENCRYPTION_KEY is not set: the sign-in API (/v1/tg/*) is not served")
    return Layer.empty
  }
  // Every hour, sessions ended more than a day ago are deleted (each process may do it; it is idempotent).
  const janitor = Layer.effectDiscard(Effect.gen(function*() {
    const sessions = yield* Sessions
    yield* sessions.purgeExpired.pipe(
      Effect.tap((deleted) => deleted > 0 ? Effect.logInfo("expired sessions deleted", { rows: deleted }) : Effect.void),
      Effect.catch((error) => Effect.logWarning("expired sessions not deleted", { error: String(error) })),
      Effect.repeat(Schedule.spaced("1 hour")),
      Effect.forkScoped
    )
  }))
  return Layer.mergeAll(Auth.layer, HttpReminders.layer, janitor).pipe(Layer.provide(Layer.mergeAll(
    InitDataVerifier.layer,
    LoginWidgetVerifier.layer,
    TokenIssuer.layer,
    Sessions.layer,
    Identity.layer,
    Platform.layer,
    AuthLimits.layer,
    GatewayEvents.layer,
    Arrivals.layer,
    reminders
  ))).pipe(Layer.provide(Layer.mergeAll(DeepLinks.layer, Identity.layer, GatewayEvents.layer)))
}))

/** The platform's API (`/v1/internal/*`), served when `INTERNAL_API_TOKEN` is set. */
export const internal = Layer.unwrap(Effect.gen(function*() {
  const token = yield* Env.internalApiToken
  if (token._tag === "None") {
    yield* Effect.logWarning("INTERNAL_API_TOKEN is not set: the platform's API (/v1/internal/*) is not served")
    return Layer.empty
  }
  return Layer.merge(Internal.layer(token.value), HttpMailings.layer(token.value)).pipe(
    Layer.provide(Layer.mergeAll(DeepLinks.layer, notifications, Mailings.layer.pipe(Layer.provide(notifications))))
  )
}))

/**
 * The HTTP role: health, metrics, the sign-in API, the platform's API and, in webhook mode, the webhook (served in front of the Effect app, see
 * `Webhook.ts`); in polling mode the `getUpdates` poller instead.
 */
export const http = Layer.unwrap(Effect.gen(function*() {
  const port = yield* Env.port
  const host = yield* Env.host
  const mode = yield* Env.updatesMode
  const options = { keepAliveTimeout: 65_000 }
  const webhook = mode === "webhook" ? yield* Webhook.listener : undefined
  const server = NodeHttpServer.layer(
    () => webhook === undefined ? Http.createServer(options) : new Webhook.WebhookServer(webhook, options),
    { port, host }
  )
  const proxies = yield* Env.trustedProxies
  const app = HttpRouter.serve(Layer.mergeAll(Health.layer, signIn, internal), {
    disableLogger: true,
    // Behind a known proxy the client address (rate limits) is the one it appended to `X-Forwarded-For`.
    ...(proxies.length === 0 ? {} : { middleware: HttpMiddleware.xForwardedHeaders({ trustedProxies: proxies }) })
  }).pipe(Layer.provideMerge(server))
  return mode === "webhook" ? app : Layer.merge(app, UpdatePoller.layer)
})).pipe(Layer.provide(UpdateIngest.layer))

/** The worker role: owns partitions and runs `handler` (the bot, in production) in chat actors. */
export const worker = <E, R>(handler: Layer.Layer<UpdateHandler, E, R>) =>
  PartitionOwnership.layer.pipe(
    Layer.provide(ChatActors.layer),
    Layer.provide(handler),
    Layer.provide(Layer.mergeAll(ChatState.layer, Sender.layer))
  )

/** The sender role: outbox partition ownership and the lanes' chat actors; mailings hear their messages' outcomes. */
export const sender = OutboxSender.layer.pipe(
  Layer.provide(Layer.mergeAll(Sender.layer, Chats.layer, MailingReceipts.layer, OutboxGuard.layer))
)

/** Templates and the path from a notification to the outbox (consents, languages, reachability). */
export const notifications = Layer.mergeAll(Notifications.layer, Templates.layer).pipe(Layer.provide(Outbox.layer))

/** Players' tournament reminders (set in the bot and the Mini App). */
export const reminders = Reminders.layer.pipe(Layer.provide(Platform.layer))

/** The notifier role: the platform's events into the outbox, and the reminders when due. */
export const notifier = Layer.mergeAll(PlatformEvents.layer, ReminderScheduler.layer, MailingRunner.layer).pipe(
  Layer.provide(Layer.mergeAll(notifications, Platform.layer))
)

/** The production handler: the bot's Composer. */
export const botHandler = BotHandler.layer.pipe(
  Layer.provide(Layer.mergeAll(Chats.layer, Arrivals.layer, Platform.layer, RedisLayer.rateLimiter, SupportTickets.layer,
    reminders)),
  Layer.provide(Layer.mergeAll(DeepLinks.layer, Identity.layer, GatewayEvents.layer))
)

/** Every role listed in `ROLES`, on the shared infrastructure, with telemetry. */
export const app = Layer.unwrap(Effect.gen(function*() {
  const roles = yield* Env.roles
  yield* Effect.logInfo("starting", { roles })
  return Layer.mergeAll(
    roles.includes("http") ? http : Layer.empty,
    roles.includes("worker") ? worker(botHandler) : Layer.empty,
    roles.includes("sender") ? sender : Layer.empty,
    roles.includes("notifier") ? notifier : Layer.empty
  )
})).pipe(Layer.provide(infrastructure), Layer.provide(Telemetry.layer))
