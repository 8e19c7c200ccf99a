/**
 * Names of every Redis key of the update pipeline, and the partition of a chat.
 *
 * Keys of one partition share the hash tag `{p<N>}`, so a Lua script may touch several of them on a Redis
 * Cluster: the stream, its dedup markers, its lease and epoch, the FSM state of its chats.
 */
import { Context, Effect, Layer } from "effect"
import * as Env from "../src/config.ts"

export class Keys extends Context.Service<Keys, {
  readonly prefix: string
  readonly partitions: number
  readonly group: string
  readonly partitionOf: (chatId: number) => number
  readonly stream: (partition: number) => string
  readonly seen: (partition: number, updateId: number) => string
  readonly lease: (partition: number) => string
  readonly epoch: (partition: number) => string
  readonly chatState: (partition: number, chatId: number) => string
  readonly members: string
  readonly deadLetter: string
  readonly outbound: (idempotencyKey: string) => string
  readonly pollerLease: string
  /** Rate-limit buckets and the bot's pause: one hash tag, so one script can take from several at once. */
  readonly limits: (name: string) => string
  readonly outbox: (lane: "notify" | "bulk", partition: number) => string
  readonly outboxLease: (partition: number) => string
  readonly outboxEpoch: (partition: number) => string
  readonly outboxMembers: string
  readonly outboxGroup: string
  readonly outboxDeadLetter: string
}>()("tg-gateway/streams/Keys") {
  static readonly make = (prefix: string, partitions: number): Keys["Service"] => {
    const tag = (p: number) => `${prefix}{p${p}}`
    return {
      prefix,
      partitions,
      group: "workers",
      partitionOf: (chatId) => fnv1a(String(chatId)) % partitions,
      stream: (p) => `${tag(p)}:updates`,
      seen: (p, updateId) => `${tag(p)}:seen:${updateId}`,
      lease: (p) => `${tag(p)}:lease`,
      epoch: (p) => `${tag(p)}:epoch`,
      chatState: (p, chatId) => `${tag(p)}:chat:${chatId}`,
      members: `${prefix}members`,
      deadLetter: `${prefix}updates:dead`,
      outbound: (key) => `${prefix}out:${key}`,
      pollerLease: `${prefix}poller:lease`,
      limits: (name) => `${prefix}{limits}:${name}`,
      outbox: (lane, p) => `${prefix}{o${p}}:outbox:${lane}`,
      outboxLease: (p) => `${prefix}{o${p}}:outbox:lease`,
      outboxEpoch: (p) => `${prefix}{o${p}}:outbox:epoch`,
      outboxMembers: `${prefix}outbox:members`,
      outboxGroup: "senders",
      outboxDeadLetter: `${prefix}outbox:dead`
    }
  }

  static readonly layer = Layer.effect(Keys)(
    Effect.gen(function*() {
      return Keys.make(yield* Env.redisPrefix, yield* Env.partitions)
    })
  )
}

/** 32-bit FNV-1a: stable across processes and versions, unlike a runtime's own string hash. */
export const fnv1a = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
