/**
 * What the emulator observed: the message log per chat, the log of every Bot API call, and the
 * counters derived from them (calls by method, errors served, per-chat minimum gap between
 * messages, the highest send rate of a bot in any 1 s window, update traffic). Tests and
 * benchmarks read these to check a client's pacing and behaviour.
 */
import { Context, Effect, Layer } from "effect"
import { Settings } from "./Options.ts"
import { Signal } from "./Signal.ts"

export interface MessageLogEntry {
  readonly seq: number
  readonly botId: number
  readonly chatId: number
  /** The Bot API method, e.g. `sendMessage`, `editMessageText`, `deleteMessage`. */
  readonly method: string
  readonly message_id: number
  /** The text (or caption) as sent, before entity parsing. */
  readonly text?: string
  readonly reply_markup?: unknown
  /** When the request arrived: Unix ms with sub-ms precision. */
  readonly receivedAt: number
  /** Every parameter of the call (uploaded files appear as `{ file, size }`). */
  readonly params: Readonly<Record<string, unknown>>
}

export interface CallLogEntry {
  readonly seq: number
  /** `null` when the token was rejected. */
  readonly botId: number | null
  readonly method: string
  readonly params: Readonly<Record<string, unknown>>
  readonly receivedAt: number
  readonly durationMs: number
  /** The HTTP status answered. */
  readonly status: number
  readonly ok: boolean
  readonly description?: string
  readonly retryAfter?: number
}

export type UpdateCounter = "injected" | "dropped" | "served" | "delivered" | "deliveryFailures"

export interface Counters {
  readonly calls: number
  readonly callsByMethod: Readonly<Record<string, number>>
  /** Successful calls by method. */
  readonly sentByMethod: Readonly<Record<string, number>>
  /** 429 answers of any origin (limits, in-flight cap, forced floods). */
  readonly tooManyRequests: number
  /** 4xx answers, 429s included. */
  readonly clientErrors: number
  /** 5xx answers. */
  readonly serverErrors: number
  readonly errorsByCode: Readonly<Record<string, number>>
  /** Per chat: the smallest gap in ms between two consecutive successful sending calls. */
  readonly minGapMsByChat: Readonly<Record<string, number>>
  /** The most successful sending calls one bot made in any 1 s window. */
  readonly maxPerSecond: number
  readonly maxPerSecondByBot: Readonly<Record<string, number>>
  readonly updates: Readonly<Record<UpdateCounter, number>>
  /** Calls being handled right now, by method. */
  readonly inFlight: Readonly<Record<string, number>>
}

export class Journal extends Context.Service<Journal, {
  readonly recordMessage: (entry: Omit<MessageLogEntry, "seq">) => void
  readonly recordCall: (entry: Omit<CallLogEntry, "seq">) => void
  /** Records a successful sending call for the gap and rate counters. */
  readonly recordSend: (botId: number, chatId: number | null, at: number) => void
  readonly countUpdates: (counter: UpdateCounter, n?: number) => void
  /** Tracks calls being handled (a long poll stays in flight while it waits). */
  readonly callStarted: (method: string) => void
  readonly callEnded: (method: string) => void
  readonly inFlight: (method: string) => number
  readonly messages: (chatId?: number) => ReadonlyArray<MessageLogEntry>
  readonly messageCount: (chatId: number) => number
  readonly calls: () => ReadonlyArray<CallLogEntry>
  /** Logged calls with a `seq` above the given one, oldest first. */
  readonly callsSince: (seq: number) => ReadonlyArray<CallLogEntry>
  readonly counters: () => Counters
  readonly reset: Effect.Effect<void>
}>()("tg-gateway/emulator/Journal") {
  static readonly layer = Layer.effect(Journal)(Effect.gen(function*() {
    const { logCapacity } = yield* Settings
    const signal = yield* Signal
    let state = emptyState()

    const bump = (record: Record<string, number>, key: string, n = 1) => {
      record[key] = (record[key] ?? 0) + n
    }

    return {
      recordMessage: (entry) => {
        const full = { seq: ++state.messageSeq, ...entry }
        state.messages.push(full)
        const perChat = state.messagesByChat.get(entry.chatId)
        if (perChat === undefined) state.messagesByChat.set(entry.chatId, [full])
        else perChat.push(full)
        if (state.messages.length > logCapacity + slack(logCapacity)) trimMessages(state, logCapacity)
        signal.notify()
      },
      recordCall: (entry) => {
        state.calls.push({ seq: ++state.callSeq, ...entry })
        if (state.calls.length > logCapacity + slack(logCapacity)) {
          state.calls.splice(0, state.calls.length - logCapacity)
        }
        const c = state.counters
        c.calls++
        bump(c.callsByMethod, entry.method)
        if (entry.ok) bump(c.sentByMethod, entry.method)
        else bump(c.errorsByCode, String(entry.status))
        if (entry.status === 429) c.tooManyRequests++
        if (entry.status >= 400 && entry.status < 500) c.clientErrors++
        if (entry.status >= 500) c.serverErrors++
        signal.notify()
      },
      recordSend: (botId, chatId, at) => {
        const c = state.counters
        if (chatId !== null) {
          const key = String(chatId)
          const last = state.lastSendByChat.get(key)
          if (last !== undefined) {
            const gap = at - last
            const min = c.minGapMsByChat[key]
            if (min === undefined || gap < min) c.minGapMsByChat[key] = gap
          }
          state.lastSendByChat.set(key, at)
        }
        let window = state.sendWindows.get(botId)
        if (window === undefined) {
          window = []
          state.sendWindows.set(botId, window)
        }
        window.push(at)
        let drop = 0
        while (drop < window.length && window[drop]! <= at - 1000) drop++
        if (drop > 0) window.splice(0, drop)
        const botKey = String(botId)
        if (window.length > (c.maxPerSecondByBot[botKey] ?? 0)) c.maxPerSecondByBot[botKey] = window.length
        if (window.length > c.maxPerSecond) c.maxPerSecond = window.length
      },
      callStarted: (method) => {
        bump(state.counters.inFlight, method)
        signal.notify()
      },
      callEnded: (method) => {
        const left = (state.counters.inFlight[method] ?? 1) - 1
        if (left > 0) state.counters.inFlight[method] = left
        else delete state.counters.inFlight[method]
        signal.notify()
      },
      inFlight: (method) => state.counters.inFlight[method] ?? 0,
      countUpdates: (counter, n = 1) => {
        state.counters.updates[counter] += n
        signal.notify()
      },
      messages: (chatId) => chatId === undefined ? [...state.messages] : [...(state.messagesByChat.get(chatId) ?? [])],
      messageCount: (chatId) => state.messagesByChat.get(chatId)?.length ?? 0,
      calls: () => [...state.calls],
      callsSince: (seq) => {
        const first = state.calls[0]
        if (first === undefined) return []
        return state.calls.slice(Math.max(0, seq - first.seq + 1))
      },
      counters: () => structuredClone(state.counters),
      reset: Effect.sync(() => {
        // Calls still running stay counted: they end after the reset.
        const inFlight = state.counters.inFlight
        state = emptyState()
        state.counters.inFlight = inFlight
        signal.notify()
      })
    }
  }))
}

interface MutableCounters {
  calls: number
  callsByMethod: Record<string, number>
  sentByMethod: Record<string, number>
  tooManyRequests: number
  clientErrors: number
  serverErrors: number
  errorsByCode: Record<string, number>
  minGapMsByChat: Record<string, number>
  maxPerSecond: number
  maxPerSecondByBot: Record<string, number>
  updates: Record<UpdateCounter, number>
  inFlight: Record<string, number>
}

const emptyState = () => ({
  messageSeq: 0,
  callSeq: 0,
  messages: [] as Array<MessageLogEntry>,
  messagesByChat: new Map<number, Array<MessageLogEntry>>(),
  calls: [] as Array<CallLogEntry>,
  lastSendByChat: new Map<string, number>(),
  sendWindows: new Map<number, Array<number>>(),
  counters: {
    calls: 0,
    callsByMethod: {},
    sentByMethod: {},
    tooManyRequests: 0,
    clientErrors: 0,
    serverErrors: 0,
    errorsByCode: {},
    minGapMsByChat: {},
    maxPerSecond: 0,
    maxPerSecondByBot: {},
    updates: { injected: 0, dropped: 0, served: 0, delivered: 0, deliveryFailures: 0 },
    inFlight: {}
  } as MutableCounters
})

/** Trim in batches so a full log does not copy itself on every entry. */
const slack = (capacity: number) => Math.max(1, Math.floor(capacity / 10))

const trimMessages = (state: ReturnType<typeof emptyState>, capacity: number) => {
  const removed = state.messages.splice(0, state.messages.length - capacity)
  const perChat = new Map<number, number>()
  for (const entry of removed) perChat.set(entry.chatId, (perChat.get(entry.chatId) ?? 0) + 1)
  for (const [chatId, n] of perChat) {
    const entries = state.messagesByChat.get(chatId)
    if (entries === undefined) continue
    entries.splice(0, n)
    if (entries.length === 0) state.messagesByChat.delete(chatId)
  }
}
