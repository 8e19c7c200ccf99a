/**
 * Each bot's incoming updates: injection (update ids assigned when absent, `allowed_updates`
 * applied), the getUpdates protocol (offset confirmation, limit, long polling, one poller at a
 * time, 409 while a webhook is set), the webhook registration and its health, per-queue order for
 * webhook delivery (messages per chat, callback and inline queries per user), and the callback
 * queries waiting for an answer.
 */
import { Context, Effect, Layer, Option } from "effect"
import { type BotApiError, conflictOtherPoller, conflictWebhookActive } from "./BotApiError.ts"
import { Chats } from "./Chats.ts"
import { Journal } from "./Journal.ts"
import { PreciseNow, unixSeconds } from "./PreciseTime.ts"
import { Signal } from "./Signal.ts"
import { optInUpdateTypes, type Update, updateType, type WebhookInfo } from "./TelegramTypes.ts"
import { completeUpdate, isRecord, queueKey } from "./UpdateShape.ts"

export interface Webhook {
  readonly url: string
  readonly secretToken: string | null
  readonly maxConnections: number
  readonly allowedUpdates: ReadonlyArray<string> | null
  /** Changes whenever the webhook is set again, so delivery restarts with the new settings. */
  readonly generation: number
}

/** A queued update; `seq` tells apart injections that reuse an `update_id`. */
export interface Pending {
  readonly seq: number
  readonly key: string
  readonly update: Update
}

export interface PollOptions {
  readonly offset?: number
  readonly limit: number
  readonly timeoutSeconds: number
  readonly allowedUpdates?: ReadonlyArray<string>
}

export class Updates extends Context.Service<Updates, {
  /** Queues an update for a bot and returns it completed; `accepted` is false when `allowed_updates` drops it. */
  readonly inject: (botId: number, update: Readonly<Record<string, unknown>>) => { update: Update; accepted: boolean }
  readonly poll: (botId: number, options: PollOptions) => Effect.Effect<ReadonlyArray<Update>, BotApiError>
  readonly setWebhook: (botId: number, webhook: Omit<Webhook, "generation">, dropPending: boolean) => void
  /** Removes the webhook; returns whether one was set. */
  readonly deleteWebhook: (botId: number, dropPending: boolean) => boolean
  readonly webhook: (botId: number) => Webhook | null
  readonly webhooks: () => ReadonlyMap<number, Webhook>
  readonly webhookInfo: (botId: number) => WebhookInfo
  /** The oldest pending update of the first queue not in `busy`, for webhook delivery. */
  readonly nextForDelivery: (botId: number, busy: ReadonlySet<string>) => Pending | undefined
  /** Forgets a delivered update. */
  readonly delivered: (botId: number, pending: Pending) => void
  readonly deliveryFailed: (botId: number, message: string) => void
  readonly pendingCount: (botId: number) => number
  /** Marks a callback query answered; false when unknown, already answered or older than 150 s. */
  readonly answerCallbackQuery: (id: string) => boolean
  readonly reset: Effect.Effect<void>
}>()("tg-gateway/emulator/Updates") {
  static readonly layer = Layer.effect(Updates)(Effect.gen(function*() {
    const signal = yield* Signal
    const chats = yield* Chats
    const journal = yield* Journal
    const now = yield* PreciseNow
    const bots = new Map<number, BotUpdates>()
    let callbackQueries = new Map<string, { readonly at: number; answered: boolean }>()
    let webhookGeneration = 0

    const stateOf = (botId: number) => {
      let state = bots.get(botId)
      if (state === undefined) {
        state = emptyBotUpdates()
        bots.set(botId, state)
      }
      return state
    }

    const remove = (state: BotUpdates, pending: Pending) => {
      if (!state.pending.delete(pending.seq)) return
      const queue = state.queues.get(pending.key)
      if (queue === undefined) return
      const index = queue.indexOf(pending.seq)
      if (index >= 0) queue.splice(index, 1)
      if (queue.length === 0) state.queues.delete(pending.key)
    }

    const dropAll = (state: BotUpdates) => {
      state.pending.clear()
      state.queues.clear()
    }

    const allowed = (state: BotUpdates, type: string | undefined) => {
      const list = state.webhook?.allowedUpdates ?? state.allowedUpdates
      if (type === undefined) return false
      return list === null || list.length === 0 ? !optInUpdateTypes.includes(type) : list.includes(type)
    }

    const firstPending = (state: BotUpdates, limit: number) =>
      inOrder(state).slice(0, limit).map((pending) => pending.update)

    return {
      inject: (botId, raw) => {
        const state = stateOf(botId)
        const update = completeUpdate(raw, {
          updateId: () => state.nextUpdateId,
          date: unixSeconds(now()),
          messageId: (chatId) => chats.nextMessageId(botId, chatId),
          observeMessageId: (chatId, id) => chats.observeMessageId(botId, chatId, id)
        })
        state.nextUpdateId = Math.max(state.nextUpdateId, update.update_id + 1)
        const type = updateType(update)
        if (!allowed(state, type)) {
          journal.countUpdates("dropped")
          return { update, accepted: false }
        }
        const query = update["callback_query"]
        if (type === "callback_query" && isRecord(query) && typeof query["id"] === "string") {
          callbackQueries.set(query["id"], { at: now(), answered: false })
        }
        const pending: Pending = { seq: ++state.lastSeq, key: queueKey(update), update }
        state.pending.set(pending.seq, pending)
        const queue = state.queues.get(pending.key)
        if (queue === undefined) state.queues.set(pending.key, [pending.seq])
        else queue.push(pending.seq)
        journal.countUpdates("injected")
        signal.notify()
        return { update, accepted: true }
      },
      poll: (botId, options) =>
        Effect.suspend(() => {
          const state = stateOf(botId)
          if (state.webhook !== null) return Effect.fail(conflictWebhookActive())
          if (options.allowedUpdates !== undefined) state.allowedUpdates = options.allowedUpdates
          if (options.offset !== undefined) confirm(state, options.offset, remove)
          const generation = ++state.pollGeneration
          signal.notify()
          const ready = firstPending(state, options.limit)
          if (ready.length > 0 || options.timeoutSeconds <= 0) return Effect.succeed(served(ready))
          return signal.waitUntil((): PollOutcome | undefined => {
            if (state.pollGeneration !== generation) return { _tag: "Superseded" }
            if (state.webhook !== null) return { _tag: "Webhook" }
            const updates = firstPending(state, options.limit)
            return updates.length > 0 ? { _tag: "Updates", updates } : undefined
          }).pipe(
            Effect.timeoutOption(options.timeoutSeconds * 1000),
            Effect.flatMap((outcome) => {
              if (Option.isNone(outcome)) return Effect.succeed(served([]))
              switch (outcome.value._tag) {
                case "Superseded":
                  return Effect.fail(conflictOtherPoller())
                case "Webhook":
                  return Effect.fail(conflictWebhookActive())
                case "Updates":
                  return Effect.succeed(served(outcome.value.updates))
              }
            })
          )
        }),
      setWebhook: (botId, webhook, dropPending) => {
        const state = stateOf(botId)
        if (dropPending) dropAll(state)
        state.webhook = { ...webhook, generation: ++webhookGeneration }
        state.lastError = undefined
        signal.notify()
      },
      deleteWebhook: (botId, dropPending) => {
        const state = stateOf(botId)
        const wasSet = state.webhook !== null
        if (dropPending) dropAll(state)
        state.webhook = null
        signal.notify()
        return wasSet
      },
      webhook: (botId) => bots.get(botId)?.webhook ?? null,
      webhooks: () => {
        const result = new Map<number, Webhook>()
        for (const [botId, state] of bots) if (state.webhook !== null) result.set(botId, state.webhook)
        return result
      },
      webhookInfo: (botId) => {
        const state = stateOf(botId)
        const webhook = state.webhook
        return {
          url: webhook?.url ?? "",
          has_custom_certificate: false,
          pending_update_count: state.pending.size,
          ...(state.lastError === undefined
            ? {}
            : { last_error_date: state.lastError.date, last_error_message: state.lastError.message }),
          ...(webhook === null ? {} : { max_connections: webhook.maxConnections }),
          ...(webhook?.allowedUpdates ? { allowed_updates: webhook.allowedUpdates } : {})
        }
      },
      nextForDelivery: (botId, busy) => {
        const state = bots.get(botId)
        if (state === undefined) return undefined
        for (const [key, queue] of state.queues) {
          if (busy.has(key)) continue
          const pending = state.pending.get(queue[0]!)
          if (pending !== undefined) return pending
        }
        return undefined
      },
      delivered: (botId, pending) => {
        const state = stateOf(botId)
        remove(state, pending)
        journal.countUpdates("delivered")
      },
      deliveryFailed: (botId, message) => {
        stateOf(botId).lastError = { date: unixSeconds(now()), message }
        journal.countUpdates("deliveryFailures")
      },
      pendingCount: (botId) => bots.get(botId)?.pending.size ?? 0,
      answerCallbackQuery: (id) => {
        const query = callbackQueries.get(id)
        if (query === undefined || query.answered || now() - query.at > 150_000) return false
        query.answered = true
        return true
      },
      reset: Effect.sync(() => {
        // Bot states are cleared in place: a poller waiting on one keeps seeing the live state.
        for (const state of bots.values()) {
          dropAll(state)
          state.nextUpdateId = 1
          state.webhook = null
          state.allowedUpdates = null
          state.lastError = undefined
        }
        callbackQueries = new Map()
        signal.notify()
      })
    }

    function served(updates: ReadonlyArray<Update>) {
      if (updates.length > 0) journal.countUpdates("served", updates.length)
      return updates
    }
  }))
}

interface BotUpdates {
  nextUpdateId: number
  lastSeq: number
  /** Pending updates by `seq`, in arrival order. */
  readonly pending: Map<number, Pending>
  /** `seq`s per delivery queue (chat or user), in arrival order. */
  readonly queues: Map<string, Array<number>>
  webhook: Webhook | null
  allowedUpdates: ReadonlyArray<string> | null
  lastError: { readonly date: number; readonly message: string } | undefined
  pollGeneration: number
}

type PollOutcome =
  | { readonly _tag: "Superseded" }
  | { readonly _tag: "Webhook" }
  | { readonly _tag: "Updates"; readonly updates: ReadonlyArray<Update> }

const emptyBotUpdates = (): BotUpdates => ({
  nextUpdateId: 1,
  lastSeq: 0,
  pending: new Map(),
  queues: new Map(),
  webhook: null,
  allowedUpdates: null,
  lastError: undefined,
  pollGeneration: 0
})

/** Pending updates by `update_id`, then arrival. */
const inOrder = (state: BotUpdates): Array<Pending> =>
  [...state.pending.values()].sort((a, b) => a.update.update_id - b.update.update_id || a.seq - b.seq)

/** getUpdates' `offset`: forget updates below it; a negative offset keeps only the last -offset. */
const confirm = (state: BotUpdates, offset: number, remove: (state: BotUpdates, pending: Pending) => void) => {
  const sorted = inOrder(state)
  const forgotten = offset < 0
    ? sorted.slice(0, Math.max(0, sorted.length + offset))
    : sorted.filter((pending) => pending.update.update_id < offset)
  for (const pending of forgotten) remove(state, pending)
}
