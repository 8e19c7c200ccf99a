/**
 * Chat actors: in-flight work is bounded (the reader stops reading when the bound is reached, so the backlog
 * stays in Redis), idle actors are passivated and come back on the chat's next update, and a handler that fails
 * after sending finds its sends recorded when it runs again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HandlerError, UpdateHandler } from "../../services/UpdateHandler.ts"
import { Keys } from "../../streams/Keys.ts"
import { emulatorSetup } from "../support/EmulatorGateway.ts"
import { gatewayEnv, redisClient, testDatabase, testPrefix } from "../support/Infra.ts"
import { startGateway } from "../support/Gateway.ts"
import { eventually } from "../support/Processes.ts"
import { recordingHandler } from "../support/RecordingHandler.ts"
import { messageUpdate, post } from "../support/Updates.ts"

const metric = (url: string, name: string) =>
  Effect.promise(async () => {
    const text = await fetch(`${url}/metrics`).then((r) => r.text())
    const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    return line === undefined ? undefined : Number(line.split(" ").pop())
  })

describe("chat actors", () => {
  it.live("keeps at most WORKER_MAX_IN_FLIGHT updates in flight; the backlog stays in the stream", () =>
    Effect.gen(function*() {
      const prefix = yield* testPrefix("t-bound")
      const databaseUrl = yield* testDatabase
      let running = 0
      let peak = 0
      let handled = 0
      const { url } = yield* startGateway({
        env: gatewayEnv({ prefix, databaseUrl, extra: { WORKER_MAX_IN_FLIGHT: "5", PARTITIONS: "1" } }),
        handler: recordingHandler({
          workMs: 20,
          onStart: () => (peak = Math.max(peak, ++running)),
          onHandled: () => {
            running--
            handled++
          }
        })
      })
      // 60 updates over 30 chats: without the bound, 30 would run at once.
      for (let i = 0; i < 60; i++) assert.strictEqual((yield* post(url, messageUpdate(1000 + i, 500 + (i % 30)))).status, 200)
      const client = yield* redisClient()
      const keys = Keys.make(prefix, 1)
      let maxDelivered = 0
      yield* eventually("all handled", Effect.gen(function*() {
        const [pending] = (yield* Effect.promise(() => client.xpending(keys.stream(0), keys.group))) as [number]
        maxDelivered = Math.max(maxDelivered, pending)
        return handled === 60
      }))
      assert.isAtMost(peak, 5)
      assert.isAtMost(maxDelivered, 5)
      assert.isAbove(peak, 1, "different chats still run concurrently")
    }))

  it.live("passivates idle actors and revives them on the next update", () =>
    Effect.gen(function*() {
      const prefix = yield* testPrefix("t-idle")
      const databaseUrl = yield* testDatabase
      let handled = 0
      const { url } = yield* startGateway({
        env: gatewayEnv({ prefix, databaseUrl, extra: { ACTOR_IDLE_MS: "200" } }),
        handler: recordingHandler({ onHandled: () => handled++ })
      })
      for (let i = 0; i < 3; i++) yield* post(url, messageUpdate(2000 + i, 700 + i))
      yield* eventually("three handled", Effect.sync(() => handled === 3))
      yield* eventually("actors passivated", Effect.map(metric(url, "tg_chat_actors_active"), (n) => n === 0))
      yield* post(url, messageUpdate(2003, 700))
      yield* eventually("revived actor handled the next update", Effect.sync(() => handled === 4))
    }))

  it.live("a handler that fails after a send runs again and gets the recorded answer, not a second message", () =>
    Effect.gen(function*() {
      const { emulator, env } = yield* emulatorSetup("t-rerun", { HANDLER_RETRY_BASE_MS: "10" })
      const chatId = 3001
      yield* emulator.registerChat({ id: chatId, type: "private", firstName: "P" })
      const answers: Array<unknown> = []
      // Sends, then fails the first time; the retry sends the same call again.
      const handler = Layer.succeed(UpdateHandler)({
        handle: (input) =>
          Effect.gen(function*() {
            const answer = yield* input.outbound("sendMessage", { chat_id: chatId, text: "once" }).pipe(
              Effect.mapError((error) => new HandlerError({ message: String(error) }))
            )
            answers.push(answer)
            if (answers.length === 1) return yield* new HandlerError({ message: "failed after sending" })
            return input.session
          })
      })
      const { url } = yield* startGateway({ env, handler })
      yield* post(url, messageUpdate(3100, chatId))
      yield* eventually("handled twice", Effect.sync(() => answers.length === 2))
      const sent = yield* emulator.messages(chatId)
      assert.deepStrictEqual(sent.map((m) => m.text), ["once"])
      assert.deepStrictEqual(answers[1], answers[0])
      assert.deepInclude(answers[0] as object, { message_id: sent[0]!.message_id })
    }))
})
