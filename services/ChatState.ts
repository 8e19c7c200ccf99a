/**
 * The FSM state of each chat, kept in Redis beside its partition's stream.
 *
 * A record holds the chat's session and the id of the last stream entry applied to it. `commit` writes the
 * record and acknowledges the entry in one Lua script, and only while the caller's fencing epoch is still the
 * partition's current one: a paused owner that lost its partition cannot overwrite its successor's state, and
 * an entry whose effects are committed is never applied twice (its id is at most `lastEntryId`).
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as Env from "../src/config.ts"
import { Keys } from "../streams/Keys.ts"

export const Session = Schema.Record(Schema.String, Schema.Unknown)
export type Session = typeof Session.Type

const ChatRecord = Schema.Struct({ v: Schema.Literal(1), last: Schema.String, session: Session })
export type ChatRecord = { readonly lastEntryId: string; readonly session: Session }

const decodeRecord = Schema.decodeUnknownOption(Schema.fromJsonString(ChatRecord))

/** KEYS: epoch, state, stream. ARGV: epoch, record json ("" keeps the record), ttl, group, entry id. */
const commitScript = Redis.script(
  (epochKey: string, stateKey: string, stream: string, epoch: number, json: string, ttl: number, group: string,
    entryId: string) => [epochKey, stateKey, stream, epoch, json, ttl, group, entryId],
  {
    numberOfKeys: 3,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3]) end
redis.call('XACK', KEYS[3], ARGV[4], ARGV[5])
return 1`
  }
).withReturnType<number>()

export type Commit = {
  readonly partition: number
  readonly epoch: number
  readonly chatId: number
  readonly entryId: string
  /** The new record; `undefined` only acknowledges. */
  readonly record: ChatRecord | undefined
}

export class ChatState extends Context.Service<ChatState, {
  readonly load: (partition: number, chatId: number) => Effect.Effect<Option.Option<ChatRecord>, Redis.RedisError>
  /** `false` when the epoch is no longer current: the partition has a new owner and nothing was written. */
  readonly commit: (commit: Commit) => Effect.Effect<boolean, Redis.RedisError>
}>()("tg-gateway/services/ChatState") {
  static readonly layer = Layer.effect(ChatState)(
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const keys = yield* Keys
      const ttl = yield* Env.chatStateTtlS
      const runCommit = redis.eval(commitScript)
      return {
        load: (partition, chatId) =>
          redis.send<string | null>("GET", keys.chatState(partition, chatId)).pipe(
            Effect.map((json) =>
              json === null ? Option.none() : Option.map(decodeRecord(json), (r) => ({
                lastEntryId: r.last,
                session: r.session
              }))
            )
          ),
        commit: ({ partition, epoch, chatId, entryId, record }) =>
          runCommit(
            keys.epoch(partition),
            keys.chatState(partition, chatId),
            keys.stream(partition),
            epoch,
            record === undefined ? "" : JSON.stringify({ v: 1, last: record.lastEntryId, session: record.session }),
            ttl,
            keys.group,
            entryId
          ).pipe(Effect.map((written) => written === 1))
      }
    })
  )
}

/** Stream ids `ms-seq` in order: `a <= b`. */
export const entryIdAtMost = (a: string, b: string): boolean => {
  const [am, as] = a.split("-").map(Number) as [number, number]
  const [bm, bs] = b.split("-").map(Number) as [number, number]
  return am < bm || (am === bm && as <= bs)
}
