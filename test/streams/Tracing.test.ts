/**
 * Tracing across the stream: the webhook's `ingest` span and the worker's `consume`, `handle` and `send` spans
 * of one update form one trace, linked through the `traceparent` stored with the queued update.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Tracer } from "effect"
import * as Roles from "../../layers/Roles.ts"
import { Emulator, UpdateBuilders } from "../../src/emulator/index.ts"
import { startGateway } from "../support/Gateway.ts"
import { gatewayEnv, testDatabase, testPrefix } from "../support/Infra.ts"
import { eventually } from "../support/Processes.ts"

describe("tracing", () => {
  it.live("links ingest, consume, handle and send of one update into one trace", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.NativeSpan> = []
      const tracer = Tracer.make({
        span: (options) => {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const emulator = Context.get(yield* Layer.build(Emulator.layer()), Emulator)
      const prefix = yield* testPrefix("t-trace")
      const databaseUrl = yield* testDatabase
      const { url } = yield* startGateway({
        env: gatewayEnv({ prefix, databaseUrl, apiRoot: emulator.url, extra: { BOT_TOKEN: emulator.token } }),
        handler: Roles.botHandler,
        tracer
      })
      const update = { update_id: 77, ...UpdateBuilders.command({ chatId: 601, command: "help" }) }
      yield* Effect.promise(() =>
        fetch(`${url}/telegram/webhook`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": "test-secret" },
          body: JSON.stringify(update)
        })
      )
      yield* emulator.awaitMessages(601, 1)
      const named = (name: string) => spans.filter((s) => s.name === name)
      yield* eventually("the send span ended", Effect.sync(() => named("send").some((s) => s.status._tag === "Ended")))
      const [ingest] = named("ingest")
      const [consume] = named("consume")
      assert.isDefined(ingest)
      assert.isDefined(consume)
      assert.strictEqual(consume!.traceId, ingest!.traceId)
      assert.strictEqual(consume!.parent._tag === "Some" ? consume!.parent.value.spanId : undefined, ingest!.spanId)
      for (const name of ["handle", "send"]) {
        assert.isTrue(named(name).some((s) => s.traceId === ingest!.traceId), `${name} in the update's trace`)
      }
    }))
})
