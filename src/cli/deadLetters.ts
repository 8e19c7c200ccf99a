/**
 * `npm run dead-letters -- <list [count]|replay <entry-id>|drop <entry-id>> [--outbox|--events]`: the updates whose
 * handler kept failing. `replay` appends the update to its partition again (bypassing the dedup marker, which
 * still remembers it) and removes it from the dead-letter stream; fix the cause first. With `--outbox`: the
 * queued messages Telegram refused (400) or that kept failing (5xx); `replay` queues one again in its lane, with its
 * receipt, consent guard and deadline (its idempotency key was never recorded as sent, so it will be sent). With `--events`: the platform's events the
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

/** One kind of dead letter: where it lives, how a listing shows it (never a text that may name the player), and
 * where `replay` appends it again; `replay` answers where it went. */
type Kind = {
  readonly stream: string
  readonly summary: (fields: Record<string, string>) => Record<string, unknown>
  readonly replay: (entry: Record<string, string>) => Effect.Effect<string, Redis.RedisError>
}

const program = Effect.gen(function*() {
  const redis = yield* Redis.Redis
  const keys = yield* Keys
  const platformEvents = yield* Env.platformEventsStream
  /** `name value` pairs of the fields present. */
  const present = (entry: Record<string, string>, names: ReadonlyArray<string>) =>
    names.flatMap((name) => entry[name] ? [name, entry[name]] : [])

  const kind: Kind = events
    ? {
      stream: `${platformEvents}:dead`,
      // The event's variables are the platform's business: only its type is shown.
      summary: ({ event = "", traceparent: _, ...rest }) => ({ type: /"type"\s*:\s*"([^"]{1,64})"/.exec(event)?.[1], ...rest }),
      replay: (entry) =>
        Effect.map(
          redis.send<string>("XADD", platformEvents, "*", "event", entry.event ?? "", ...present(entry, ["traceparent"])),
          (id) => `${platformEvents} as ${id}`
        )
    }
    : outbox
    ? {
      stream: keys.outboxDeadLetter,
      // The message's text and parameters may name the player: only its method is shown.
      summary: ({ message = "{}", traceparent: _, guard: __, ...rest }) => ({
        method: (JSON.parse(message) as { method?: string }).method,
        ...rest
      }),
      // Queued again as it was queued: its receipt, consent guard and deadline still apply.
      replay: (entry) => {
        const lane = entry.lane === "bulk" ? "bulk" : "notify"
        const partition = keys.partitionOf(Number(entry.chat))
        return Effect.map(
          redis.send<string>(
            "XADD", keys.outbox(lane, partition), "*", "message", entry.message ?? "{}", "chat", entry.chat ?? "0",
            "traceparent", entry.traceparent ?? "", ...present(entry, ["receipt", "guard", "not_after"])
          ),
          (id) => `the ${lane} lane, partition ${partition}, as ${id}`
        )
      }
    }
    : {
      stream: keys.deadLetter,
      summary: ({ update = "{}", ...rest }) => ({ update_id: (JSON.parse(update) as { update_id?: number }).update_id, ...rest }),
      replay: (entry) => {
        const partition = keys.partitionOf(Number(entry.chat))
        return Effect.map(
          redis.send<string>(
            "XADD", keys.stream(partition), "*", "update", entry.update ?? "{}", "traceparent", entry.traceparent ?? "",
            "chat", entry.chat ?? "0"
          ),
          (id) => `partition ${partition} as ${id}`
        )
      }
    }

  switch (command) {
    case "list": {
      const entries = yield* redis.send<Array<[string, Array<string>]>>(
        "XREVRANGE", kind.stream, "+", "-", "COUNT", argument ?? "20"
      )
      for (const [id, flat] of entries) process.stdout.write(JSON.stringify({ id, ...kind.summary(fieldsOf(flat)) }) + "\n")
      return
    }
    case "replay": {
      const found = argument === undefined
        ? []
        : yield* redis.send<Array<[string, Array<string>]>>("XRANGE", kind.stream, argument, argument)
      if (found[0] === undefined) return yield* Effect.fail(new Error(`no dead letter ${argument}`))
      const where = yield* kind.replay(fieldsOf(found[0][1]))
      yield* redis.send("XDEL", kind.stream, argument!)
      process.stdout.write(`replayed into ${where}\n`)
      return
    }
    case "drop": {
      const removed = yield* redis.send<number>("XDEL", kind.stream, argument ?? "")
      process.stdout.write(`${removed} removed\n`)
      return
    }
    default:
      return yield* Effect.fail(new Error(`unknown command ${command}: use list, replay or drop`))
  }
}).pipe(Effect.provide(Layer.mergeAll(RedisLayer.layer, Keys.layer)))

NodeRuntime.runMain(program)
