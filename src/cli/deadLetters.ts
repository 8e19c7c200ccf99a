/**
 * `npm run dead-letters -- <list [count]|replay <entry-id>|drop <entry-id>>`: the updates whose handler kept
 * failing. `replay` appends the update to its partition again (bypassing the dedup marker, which still
 * remembers it) and removes it from the dead-letter stream; fix the cause first.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as RedisLayer from "../../layers/Redis.ts"
import { Keys } from "../../streams/Keys.ts"

const [command = "list", argument] = process.argv.slice(2)

const fieldsOf = (flat: ReadonlyArray<string>) => {
  const out: Record<string, string> = {}
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!
  return out
}

const program = Effect.gen(function*() {
  const redis = yield* Redis.Redis
  const keys = yield* Keys
  const find = (id: string) =>
    Effect.map(redis.send<Array<[string, Array<string>]>>("XRANGE", keys.deadLetter, id, id), (e) =>
      e[0] === undefined ? undefined : fieldsOf(e[0][1]))
  switch (command) {
    case "list": {
      const entries = yield* redis.send<Array<[string, Array<string>]>>(
        "XREVRANGE", keys.deadLetter, "+", "-", "COUNT", argument ?? "20"
      )
      for (const [id, flat] of entries) {
        const { update = "{}", ...rest } = fieldsOf(flat)
        const updateId = (JSON.parse(update) as { update_id?: number }).update_id
        process.stdout.write(JSON.stringify({ id, update_id: updateId, ...rest }) + "\n")
      }
      return
    }
    case "replay": {
      const entry = argument === undefined ? undefined : yield* find(argument)
      if (entry === undefined) return yield* Effect.fail(new Error(`no dead letter ${argument}`))
      const partition = keys.partitionOf(Number(entry.chat))
      const id = yield* redis.send<string>(
        "XADD", keys.stream(partition), "*", "update", entry.update ?? "{}", "traceparent", entry.traceparent ?? "",
        "chat", entry.chat ?? "0"
      )
      yield* redis.send("XDEL", keys.deadLetter, argument!)
      process.stdout.write(`replayed into partition ${partition} as ${id}\n`)
      return
    }
    case "drop": {
      const removed = yield* redis.send<number>("XDEL", keys.deadLetter, argument ?? "")
      process.stdout.write(`${removed} removed\n`)
      return
    }
    default:
      return yield* Effect.fail(new Error(`unknown command ${command}: use list, replay or drop`))
  }
}).pipe(Effect.provide(Layer.mergeAll(RedisLayer.layer, Keys.layer)))

NodeRuntime.runMain(program)
