/**
 * The HTTP control and inspection API under `/_emulator/`, for operators and for tests that run
 * the emulator as a separate process. Bodies are JSON decoded with Schema; every answer is
 * `{"ok":true,"result":...}` or `{"ok":false,"error":"..."}` (400 bad input, 408 wait timed out).
 * See docs/emulator.md for each endpoint.
 */
import { Effect, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { Control, EmulatorTimeout } from "./Control.ts"

const ChatState = Schema.Literals(["active", "blocked", "deactivated", "kicked", "not_found"])
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const NonNegative = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
const Limit = Schema.optionalKey(Schema.NullOr(NonNegative))

const LimitsPatch = Schema.Struct({
  globalPerSecond: Limit,
  chatPerSecond: Limit,
  groupPerMinute: Limit,
  maxInFlight: Limit,
  inFlightRetryAfter: Schema.optionalKey(Count)
})

const FaultsPatch = Schema.Struct({
  latencyMs: Schema.optionalKey(NonNegative),
  jitterMs: Schema.optionalKey(NonNegative),
  errorRate: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  errorStatus: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 500, maximum: 599 }))),
  methods: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.String)))
})

const Flood = Schema.Struct({
  count: Schema.optionalKey(Count),
  durationMs: Schema.optionalKey(NonNegative),
  retryAfter: Count
})

const ChatProfile = Schema.Struct({
  id: Schema.Int,
  type: Schema.optionalKey(Schema.Literals(["private", "group", "supergroup", "channel"])),
  username: Schema.optionalKey(Schema.String),
  title: Schema.optionalKey(Schema.String),
  firstName: Schema.optionalKey(Schema.String),
  state: Schema.optionalKey(ChatState),
  migratedTo: Schema.optionalKey(Schema.Int)
})

const ChatIds = Schema.Struct({ chatIds: Schema.Array(Schema.Int) })

const ChatStateChange = Schema.Struct({ chatIds: Schema.Array(Schema.Int), state: ChatState })

const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

const Inject = Schema.Struct({
  botId: Schema.optionalKey(Schema.Int),
  update: Schema.optionalKey(JsonObject),
  updates: Schema.optionalKey(Schema.Array(JsonObject))
})

const FileUpload = Schema.Struct({
  content: Schema.optionalKey(Schema.String),
  contentBase64: Schema.optionalKey(Schema.String),
  fileId: Schema.optionalKey(Schema.String),
  filePath: Schema.optionalKey(Schema.String),
  mimeType: Schema.optionalKey(Schema.String),
  fileName: Schema.optionalKey(Schema.String)
})

const ok = (result: unknown = true) => HttpServerResponse.jsonUnsafe({ ok: true, result })

const fail = (status: number, error: string) => HttpServerResponse.jsonUnsafe({ ok: false, error }, { status })

/** Decodes the JSON body (an empty body is `{}`). */
const body = <S extends Schema.ConstraintDecoder<unknown>>(schema: S) => {
  const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(schema))
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const text = yield* Effect.mapError(request.text, () => "unreadable body")
    return yield* Effect.mapError(decode(text.trim() === "" ? "{}" : text), (error) => error.message)
  })
}

/** Reads one query-string parameter. */
const query = Effect.gen(function*() {
  const params = yield* HttpServerRequest.ParsedSearchParams
  return (name: string) => {
    const value = params[name]
    return typeof value === "string" ? value : value?.[0]
  }
})

const numberOr = (value: string | undefined, fallback: number) =>
  value === undefined || value === "" || !Number.isFinite(Number(value)) ? fallback : Number(value)

/** Runs a control handler; bad input answers 400, an expired wait 408. */
const handle = <E, R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  effect.pipe(
    Effect.catch((error) =>
      Effect.succeed(
        error instanceof EmulatorTimeout
          ? fail(408, `timed out waiting for ${error.waitingFor}`)
          : fail(400, typeof error === "string" ? error : String(error))
      )
    )
  )

export const ControlRoutes = HttpRouter.use((router) =>
  Effect.gen(function*() {
    const control = yield* Control
    const route = <E, R>(
      method: "GET" | "POST",
      path: `/${string}`,
      handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ) => router.add(method, `/_emulator${path}`, handle(handler))

    yield* route("GET", "/health", Effect.succeed(ok({ status: "ok" })))
    yield* route("POST", "/reset", Effect.as(control.reset, ok()))
    yield* route("GET", "/limits", Effect.map(control.limits, ok))
    yield* route("POST", "/limits", Effect.flatMap(body(LimitsPatch), (patch) => Effect.map(control.configureLimits(patch), ok)))
    yield* route("GET", "/faults", Effect.map(control.faults, ok))
    yield* route("POST", "/faults", Effect.flatMap(body(FaultsPatch), (patch) => Effect.map(control.configureFaults(patch), ok)))
    yield* route("POST", "/flood", Effect.flatMap(body(Flood), (flood) => Effect.as(control.flood(flood), ok())))
    yield* route("POST", "/chats", Effect.flatMap(body(ChatProfile), (chat) => Effect.as(control.registerChat(chat), ok())))
    yield* route(
      "POST",
      "/chat-state",
      Effect.flatMap(body(ChatStateChange), ({ chatIds, state }) => Effect.as(control.setChatState(chatIds, state), ok()))
    )
    yield* route("POST", "/users/block", Effect.flatMap(body(ChatIds), ({ chatIds }) => Effect.as(control.blockUsers(chatIds), ok())))
    yield* route(
      "POST",
      "/users/deactivate",
      Effect.flatMap(body(ChatIds), ({ chatIds }) => Effect.as(control.deactivateUsers(chatIds), ok()))
    )
    yield* route(
      "POST",
      "/updates",
      Effect.flatMap(body(Inject), (input) =>
        Effect.map(
          Effect.forEach(
            [...(input.update === undefined ? [] : [input.update]), ...(input.updates ?? [])],
            (update) => control.injectUpdate(update, input.botId === undefined ? {} : { botId: input.botId })
          ),
          ok
        ))
    )
    yield* route(
      "POST",
      "/files",
      Effect.flatMap(body(FileUpload), ({ content, contentBase64, ...rest }) =>
        Effect.map(
          control.registerFile({
            ...rest,
            content: contentBase64 === undefined ? content ?? "" : Uint8Array.from(Buffer.from(contentBase64, "base64"))
          }),
          ({ content: bytes, ...file }) => ok(file)
        ))
    )
    yield* route(
      "GET",
      "/messages",
      Effect.flatMap(query, (get) => {
        const chatId = get("chatId")
        return Effect.map(control.messages(chatId === undefined ? undefined : Number(chatId)), ok)
      })
    )
    yield* route(
      "GET",
      "/messages/:chatId",
      Effect.flatMap(HttpRouter.params, ({ chatId }) => Effect.map(control.messages(Number(chatId)), ok))
    )
    yield* route(
      "GET",
      "/messages/:chatId/wait",
      Effect.gen(function*() {
        const { chatId } = yield* HttpRouter.params
        const get = yield* query
        const entries = yield* control.awaitMessages(Number(chatId), numberOr(get("count"), 1), {
          timeout: numberOr(get("timeoutMs"), 10_000)
        })
        return ok(entries)
      })
    )
    yield* route(
      "GET",
      "/calls",
      Effect.gen(function*() {
        const get = yield* query
        const method = get("method")?.toLowerCase()
        const botId = get("botId")
        const since = numberOr(get("sinceSeq"), 0)
        const calls = (yield* control.calls).filter((call) =>
          call.seq > since && (method === undefined || call.method.toLowerCase() === method) &&
          (botId === undefined || call.botId === Number(botId))
        )
        return ok(calls)
      })
    )
    yield* route("GET", "/counters", Effect.map(control.counters, ok))
    yield* route("GET", "/bots", Effect.map(control.bots, ok))
    yield* route(
      "GET",
      "/webhook",
      Effect.flatMap(query, (get) => {
        const botId = get("botId")
        return Effect.map(control.webhookInfo(botId === undefined ? undefined : Number(botId)), ok)
      })
    )
  })
)
