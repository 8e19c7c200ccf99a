/**
 * An in-process gateway for tests: the `http`, `worker`, `notifier` and `sender` roles as asked, on the real Redis
 * and Postgres, configured by a record instead of the environment. Yields the base URL of its HTTP server (port chosen by the OS).
 */
import { Context, Effect, Layer, Metric, Option, Tracer } from "effect"
import { HttpServer } from "effect/http"
import * as Roles from "../../layers/Roles.ts"
import * as Telemetry from "../../layers/Telemetry.ts"
import type { UpdateHandler } from "../../services/UpdateHandler.ts"
import { PartitionOwnership } from "../../streams/PartitionOwnership.ts"
import { config } from "./Infra.ts"

export const startGateway = <E, R>(options: {
  readonly env: Record<string, string>
  readonly http?: boolean
  readonly handler?: Layer.Layer<UpdateHandler, E, R>
  readonly notifier?: boolean
  readonly sender?: boolean
  /** Replaces the tracer, e.g. to record spans. */
  readonly tracer?: Tracer.Tracer
}) =>
  Effect.gen(function*() {
    const parts = Layer.mergeAll(
      options.http === false ? Layer.empty : Roles.http,
      options.handler === undefined ? Layer.empty : Roles.worker(options.handler),
      options.notifier === true ? Roles.notifier : Layer.empty,
      options.sender === true ? Roles.sender : Layer.empty
    ).pipe(
      Layer.provide(Roles.infrastructure),
      Layer.provide(Telemetry.layer),
      Layer.provide(config(options.env)),
      // Each gateway counts its own metrics, as a separate process would.
      Layer.provide(Layer.succeed(Metric.MetricRegistry)(new Map())),
      Layer.provide(options.tracer === undefined ? Layer.empty : Layer.succeed(Tracer.Tracer)(options.tracer))
    )
    const context = (yield* Layer.build(parts as unknown as Layer.Layer<never, unknown>)) as Context.Context<unknown>
    const server = Context.getOption(context, HttpServer.HttpServer)
    const address = Option.map(server, (s) => s.address)
    const url = Option.isSome(address) && address.value._tag === "InetAddressV4"
      ? `http://127.0.0.1:${address.value.port}`
      : ""
    return { url, ownership: Option.getOrUndefined(Context.getOption(context, PartitionOwnership)) }
  })
