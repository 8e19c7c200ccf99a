/**
 * `npm run dead-letters -- <list [count]|replay <entry-id>|drop <entry-id>> [--outbox|--events]`: the updates whose
 * handler kept failing. `replay` appends the update to its partition again (bypassing the dedup marker, which
 * still remembers it) and removes it from the dead-letter stream; fix the cause first. With `--outbox`: the
 * queued messages Telegram refused (400) or that kept failing (5xx); `replay` queues one again in its lane (its
 * idempotency key was never recorded as sent, so it will be sent). With `--events`: the platform's events the
 * notifier could not send (not JSON, unknown template, bad variables, expired), with the reason; `replay` appends
 * the event to the platform's stream again as it was (fix the template or the producer first).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as RedisLayer from "../../layers/Redis.ts"
import * as Env from "../config.ts"
import { Keys } from "../../streams/Keys.ts"

const args = process.argv.slice(2)
/** `--outbox`: the queued messages Telegram refused or that kept failing, instead of the updates. */
const outbox = args.includes("--outbox")
/** `--events`: the platform's events the notifier dead-lettered. */
const events = args.includes("--events")
const [command = "list", argument] = args.filter((a) => a !== "--outbox" && a !== "--events")

const fieldsOf = (flat: ReadonlyArray<string>) => {
  const out: Record<string, string> = {}
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!
  return out
}

const program = Effect.gen(function*() {
  const redis = yield* Redis.Redis
  const keys = yield* Keys
  const platformEvents = yield* Env.platformEventsStream
  const deadLetters = outbox ? keys.outboxDeadLetter : events ? `${platformEvents}:dead` : keys.deadLetter
  const find = (id: string) =>
    Effect.map(redis.send<Array<[string, Array<string>]>>("XRANGE", deadLetters, id, id), (e) =>
      e[0] === undefined ? undefined : fieldsOf(e[0][1]))
  if (events) {
    switch (command) {
      case "list": {
        const entries = yield* redis.send<Array<[string, Array<string>]>>(
          "XREVRANGE", deadLetters, "+", "-", "COUNT", argument ?? "20"
        )
        for (const [id, flat] of entries) {
          // The event itself stays out of the listing (its variables are the platform's business); its type is shown.
          const { event = "", traceparent: _, ...rest } = fieldsOf(flat)
          const type = /"type"\s*:\s*"([^"]{1,64})"/.exec(event)?.[1]
          process.stdout.write(JSON.stringify({ id, type, ...rest }) + "\n")
        }
        return
      }
      case "replay": {
        const entry = argument === undefined ? undefined : yield* find(argument)
        if (entry === undefined) return yield* Effect.fail(new Error(`no dead letter ${argument}`))
        const id = yield* redis.send<string>(
          "XADD", platformEvents, "*", "event", entry.event ?? "", ...(entry.traceparent ? ["traceparent", entry.traceparent] : [])
        )
        yield* redis.send("XDEL", deadLetters, argument!)
        process.stdout.write(`replayed into ${platformEvents} as ${id}\n`)
        return
      }
    }
  }
  if (outbox) {
    switch (command) {
      case "list": {
        const entries = yield* redis.send<Array<[string, Array<string>]>>(
          "XREVRANGE", deadLetters, "+", "-", "COUNT", argument ?? "20"
        )
        for (const [id, flat] of entries) {
          // The message's text and parameters stay out of the listing (they may name the player).
          const { message = "{}", traceparent: _, ...rest } = fieldsOf(flat)
          const method = (JSON.parse(message) as { method?: string }).method
          process.stdout.write(JSON.stringify({ id, method, ...rest }) + "\n")
        }
        return
      }
      case "replay": {
        const entry = argument === undefined ? undefined : yield* find(argument)
        if (entry === undefined) return yield* Effect.fail(new Error(`no dead letter ${argument}`))
        const lane = entry.lane === "bulk" ? "bulk" : "notify"
        const partition = keys.partitionOf(Number(entry.chat))
        const id = yield* redis.send<string>(
          "XADD", keys.outbox(lane, partition), "*", "message", entry.message ?? "{}", "chat", entry.chat ?? "0",
          "traceparent", entry.traceparent ?? ""
        )
        yield* redis.send("XDEL", deadLetters, argument!)
        process.stdout.write(`replayed into the ${lane} lane, partition ${partition}, as ${id}\n`)
        return
      }
    }
  }
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
      const removed = yield* redis.send<number>("XDEL", deadLetters, argument ?? "")
      process.stdout.write(`${removed} removed\n`)
      return
    }
    default:
      return yield* Effect.fail(new Error(`unknown command ${command}: use list, replay or drop`))
  }
}).pipe(Effect.provide(Layer.mergeAll(RedisLayer.layer, Keys.layer)))

NodeRuntime.runMain(program)
