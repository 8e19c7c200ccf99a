/**
 * Tracing and logging. Spans are always created (W3C ids travel with every queued update); they are exported
 * over OTLP/HTTP through `@effect/opentelemetry` only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Logs are one
 * JSON object per line on stdout, carrying the current `trace_id`/`span_id`.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Context, Effect, Layer, Logger, Option, References, Tracer } from "effect"
import * as Hex from "effect/encoding/Hex"
import { Headers, HttpTraceContext } from "effect/http"
import * as Env from "../src/config.ts"

/**
 * The W3C `traceparent` of the current span. Without one (no tracer backend: the HTTP server then skips its
 * server span), a fresh trace id, so the spans and logs of the update's later stages still share one trace.
 */
export const traceparentOf: Effect.Effect<string> = Effect.map(
  Effect.serviceOption(Tracer.ParentSpan),
  (span) =>
    span._tag === "Some"
      ? `00-${span.value.traceId}-${span.value.spanId}-${span.value.sampled ? "01" : "00"}`
      : freshTraceparent()
)

// Trace ids need uniqueness, not secrecy: the same generator as Effect's own spans.
const freshTraceparent = (): string => `00-${Hex.random(32)}-${Hex.random(16)}-01`

/**
 * The `traceparent` to store when no span is recorded: the caller's trace (and sampling flag) with a fresh span
 * id when it sent a valid `traceparent`, otherwise a fresh trace.
 */
export const traceparentContinuing = (incoming: string | undefined): string => {
  const caller = spanFromTraceparent(incoming)
  return caller._tag === "Some"
    ? `00-${caller.value.traceId}-${Hex.random(16)}-${caller.value.sampled ? "01" : "00"}`
    : freshTraceparent()
}

/**
 * Options for spans made once per update or per message: no stack trace is captured for them (an `Error` per
 * span is a measurable share of a worker's time; their names and attributes say where they come from).
 * Only the data-first `Effect.withSpan(effect, name, options)` accepts it.
 */
export const hotSpan = { captureStackTrace: false } as const

/** The span a stored `traceparent` names, to continue its trace on the other side of a stream. */
export const spanFromTraceparent = (traceparent: string | undefined): Option.Option<Tracer.ExternalSpan> =>
  traceparent ? HttpTraceContext.w3c(Headers.fromRecordUnsafe({ traceparent })) : Option.none()

/** JSON lines with trace ids; messages and annotations must never carry PII or secrets. */
export const jsonLogger = Logger.make(({ cause, date, fiber, logLevel, message }) => {
  const span = Context.getOption(fiber.context, Tracer.ParentSpan)
  const parts: ReadonlyArray<unknown> = Array.isArray(message) ? message : [message]
  const entry: Record<string, unknown> = { level: logLevel.toLowerCase(), time: date.toISOString() }
  const texts: Array<string> = []
  for (const part of parts) {
    if (part !== null && typeof part === "object" && !Array.isArray(part)) Object.assign(entry, part)
    else texts.push(String(part))
  }
  entry.msg = texts.join(" ")
  if (Option.isSome(span)) {
    entry.trace_id = span.value.traceId
    entry.span_id = span.value.spanId
  }
  for (const [key, value] of Object.entries(fiber.getRef(References.CurrentLogAnnotations))) entry[key] = value
  if (cause.reasons.length > 0) entry.cause = String(cause)
  globalThis.console.log(JSON.stringify(entry, (_, v) => typeof v === "bigint" ? v.toString() : v))
})

const tracing = Layer.unwrap(Effect.gen(function*() {
  const endpoint = yield* Env.otlpEndpoint
  const serviceName = yield* Env.serviceName
  if (Option.isNone(endpoint)) return Layer.empty
  const url = endpoint.value.replace(/\/+$/, "") + "/v1/traces"
  return NodeSdk.layer(() => ({
    resource: { serviceName },
    spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter({ url }))
  }))
}))

const logging = Layer.unwrap(Effect.gen(function*() {
  const level = yield* Env.logLevel
  return Layer.mergeAll(
    Logger.layer([jsonLogger]),
    Layer.succeed(References.MinimumLogLevel)(level)
  )
}))

export const layer = Layer.mergeAll(tracing, logging)
