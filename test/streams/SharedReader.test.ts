/**
 * The shared reader: one blocking `XREADGROUP` for every partition stream a process owns. Each stream's entries
 * are dispatched once and in order; a stream that joins while a read is parked is read at once, and one that
 * leaves cuts the read short and is not read any more. The block time is 8 s here, so that a read not cut short
 * would outlast every wait of the test (5 s); a read whose reply is lost is claimed again; with fewer slots than
 * streams a read never brings more entries than it holds slots for.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as RedisLayer from "../../layers/Redis.ts"
import { makeSlots } from "../../streams/Actors.ts"
import type { Ownership } from "../../streams/Ownership.ts"
import { makeSharedReader, readStream } from "../../streams/PartitionConsumer.ts"
import { redisClient, redisUrl, testPrefix } from "../support/Infra.ts"
import { eventually } from "../support/Processes.ts"

type Read = { readonly stream: string; readonly id: string; readonly n: string }

const own = (partition: number): Ownership => ({
  partition,
  epoch: 1,
  consumer: "reader-test",
  leaseSafe: Effect.succeed(true)
})

const setup = (slotCount = 1000) => Effect.gen(function*() {
  const prefix = yield* testPrefix("t-shared-reader")
  const client = yield* redisClient()
  const streams = [0, 1, 2].map((p) => `${prefix}{p${p}}:updates`)
  for (const stream of streams) yield* Effect.promise(() => client.xgroup("CREATE", stream, "g", "0", "MKSTREAM"))
  const slots = yield* makeSlots(slotCount)
  const dispatched: Array<Read> = []
  // The entry is finished at once: acknowledged, and its slot free again.
  const dispatch = (entry: Read) =>
    Effect.andThen(
      Effect.promise(() => {
        dispatched.push(entry)
        return client.xack(entry.stream, "g", entry.id)
      }),
      slots.unreserve(1)
    )
  const reader = yield* makeSharedReader<Read>({
    group: "g",
    reserve: slots.reserve,
    unreserve: slots.unreserve,
    dispatch,
    maxInFlight: slotCount,
    blockMs: 8_000
  })
  // A partition's reader as the worker runs it: its takeover pass, then the shared reads (again after a failure).
  const join = (p: number) =>
    Effect.forkChild(readStream<Read>({
      stream: streams[p]!,
      group: "g",
      own: own(p),
      reserve: slots.reserve,
      unreserve: slots.unreserve,
      dispatch,
      toEntry: (id, fields) => ({ stream: streams[p]!, id, n: fields[1]! }),
      shared: reader
    }))
  const add = (p: number, n: number) => Effect.promise(() => client.xadd(streams[p]!, "*", "n", String(n)))
  const parkedOn = (...ps: ReadonlyArray<number>) =>
    Effect.map(reader.reading, (reading) => reading.length === ps.length && ps.every((p) => reading.includes(streams[p]!)))
  return { client, streams, dispatched, join, add, parkedOn, reader }
})

const layer = RedisLayer.layerUrl(redisUrl)

describe("shared stream reader", () => {
  it.live("reads every joined stream in one blocking read: each entry once, in stream order", () =>
    Effect.gen(function*() {
      const { dispatched, join, add, parkedOn, streams } = yield* setup()
      yield* join(0)
      yield* join(1)
      yield* eventually("one read parked on both streams", parkedOn(0, 1))
      for (let n = 0; n < 50; n++) yield* add(n % 2, n)
      yield* eventually("all 50 entries dispatched", Effect.sync(() => dispatched.length >= 50))
      for (const [p, stream] of streams.slice(0, 2).entries()) {
        const ns = dispatched.filter((e) => e.stream === stream).map((e) => Number(e.n))
        assert.deepStrictEqual(ns, Array.from({ length: 25 }, (_, i) => 2 * i + p))
      }
      assert.strictEqual(dispatched.length, 50)
    }).pipe(Effect.provide(layer), Effect.scoped))

  it.live("a stream that joins while a read is parked is read at once, not after the block time", () =>
    Effect.gen(function*() {
      const { dispatched, join, add, parkedOn, streams } = yield* setup()
      yield* join(0)
      yield* eventually("a read parked on the first stream", parkedOn(0))
      yield* join(1)
      yield* eventually("the read cut short and parked on both", parkedOn(0, 1), 5_000)
      yield* add(1, 7)
      yield* eventually("the new stream's entry dispatched", Effect.sync(() => dispatched.length === 1), 5_000)
      assert.deepStrictEqual(dispatched.map((e) => [e.stream, e.n]), [[streams[1], "7"]])
    }).pipe(Effect.provide(layer), Effect.scoped))

  it.live("a stream that leaves cuts the read short and is not read any more", () =>
    Effect.gen(function*() {
      const { client, dispatched, join, add, parkedOn, streams } = yield* setup()
      const first = yield* join(0)
      yield* join(2)
      yield* eventually("a read parked on both streams", parkedOn(0, 2))
      // Leaving returns only once the parked read has ended: a read left to run out would hold it for 8 s.
      yield* Fiber.interrupt(first).pipe(
        Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.die(new Error("leaving waited for the read")) })
      )
      yield* eventually("a read parked on the remaining stream", parkedOn(2), 5_000)
      yield* add(0, 1)
      yield* add(2, 2)
      yield* eventually("the remaining stream's entry dispatched", Effect.sync(() => dispatched.length === 1), 5_000)
      assert.deepStrictEqual(dispatched.map((e) => e.n), ["2"])
      // The left stream's entry is still there for its next owner: never delivered to this group.
      const pending = yield* Effect.promise(() => client.xpending(streams[0]!, "g")) as Effect.Effect<[number]>
      assert.strictEqual(pending[0], 0)
      const [info] = (yield* Effect.promise(() => client.xinfo("GROUPS", streams[0]!))) as Array<Array<unknown>>
      assert.strictEqual(info![info!.indexOf("last-delivered-id") + 1], "0-0")
    }).pipe(Effect.provide(layer), Effect.scoped))

  it.live("a read that fails (the stream's group is gone) is retried, and reading goes on", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const { dispatched, join, add, parkedOn, streams } = yield* setup()
      yield* join(0)
      yield* eventually("a read parked", parkedOn(0))
      yield* redis.send("DEL", streams[0]!)
      yield* redis.send("XGROUP", "CREATE", streams[0]!, "g", "0", "MKSTREAM")
      yield* add(0, 3)
      yield* eventually("the entry dispatched after the reader restarted", Effect.sync(() => dispatched.length === 1), 5_000)
      assert.deepStrictEqual(dispatched.map((e) => e.n), ["3"])
    }).pipe(Effect.provide(layer), Effect.scoped))

  it.live("a read whose reply is lost (its connection killed as Redis delivers) is claimed again, in order", () =>
    Effect.gen(function*() {
      const { client, dispatched, join, add, parkedOn, reader, streams } = yield* setup()
      yield* join(0)
      yield* eventually("a read parked", parkedOn(0))
      const id = yield* reader.connectionId
      // Redis hands the entry to the parked read, then drops the connection before the reply leaves.
      yield* Effect.promise(() => client.multi().xadd(streams[0]!, "*", "n", "1").client("KILL", "ID", id!).exec())
      yield* add(0, 2)
      yield* eventually("both entries dispatched", Effect.sync(() => new Set(dispatched.map((e) => e.n)).size === 2), 5_000)
      assert.deepStrictEqual([...new Set(dispatched.map((e) => e.n))], ["1", "2"])
      const pending = (yield* Effect.promise(() => client.xpending(streams[0]!, "g"))) as [number]
      assert.strictEqual(pending[0], 0)
    }).pipe(Effect.provide(layer), Effect.scoped))

  it.live("with fewer slots than streams a read never brings more entries than it holds slots for", () =>
    Effect.gen(function*() {
      // Two slots, three streams with entries: each read takes some streams in turn.
      const { dispatched, join, add } = yield* setup(2)
      for (let n = 0; n < 9; n++) yield* add(n % 3, n)
      yield* join(0)
      yield* join(1)
      yield* join(2)
      yield* eventually("all 9 entries dispatched", Effect.sync(() => dispatched.length >= 9), 5_000)
      assert.deepStrictEqual(dispatched.map((e) => Number(e.n)).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8])
    }).pipe(Effect.provide(layer), Effect.scoped))
})
