/**
 * The Bot API emulator in a process of its own, enforcing 300 messages/s per bot, 1/s per chat and 20/min per
 * group, read over its control API. Tests of the send limits use it: a collection pause in the test process would
 * otherwise stamp requests that arrived apart with one late time and make its sliding window see a burst the
 * senders never sent.
 */
import { Effect } from "effect"
import { freePort } from "../../bench/lib/proc.ts"
import { type Counters, defaultToken, type MessageLogEntry } from "../../src/emulator/index.ts"
import { eventually, spawnNode } from "./Processes.ts"

export const separateEmulator = Effect.gen(function*() {
  const port = yield* Effect.promise(freePort)
  yield* spawnNode("src/emulator/main.ts", {
    EMULATOR_PORT: String(port),
    EMULATOR_GLOBAL_RATE: "300",
    EMULATOR_CHAT_RATE: "1",
    EMULATOR_GROUP_RATE_PER_MIN: "20"
  })
  const url = `http://127.0.0.1:${port}`
  const get = <A>(path: string) =>
    Effect.promise(async () => ((await (await fetch(`${url}/_emulator${path}`)).json()) as { result: A }).result)
  yield* eventually("the emulator answers", Effect.promise(() => fetch(`${url}/_emulator/health`).then((r) => r.ok, () => false)))
  const counters = get<Counters>("/counters")
  return {
    url,
    token: defaultToken,
    counters,
    /** `sendMessage` calls served. */
    sent: Effect.map(counters, (c) => c.sentByMethod["sendMessage"] ?? 0),
    messages: () => get<Array<MessageLogEntry>>("/messages")
  }
})
