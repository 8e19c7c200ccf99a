/**
 * One Bot API call from token to answer, in the order Telegram's server applies its checks:
 * the token (401), the method (404), the in-flight cap (429; long polls are not counted),
 * injected latency and 5xx faults, forced floods for sending methods (429), then the method
 * itself. Every call ends up in the call log and the counters, whatever it answered.
 */
import { Cause, Context, Effect, Layer } from "effect"
import { type BotApiError, type ErrorBody, notFound, unauthorized } from "./BotApiError.ts"
import { Bots } from "./Bots.ts"
import { Faults } from "./Faults.ts"
import { Journal } from "./Journal.ts"
import { Limits } from "./Limits.ts"
import * as BotMethods from "./methods/BotMethods.ts"
import * as MediaMethods from "./methods/MediaMethods.ts"
import * as MessageMethods from "./methods/MessageMethods.ts"
import type { Method, Reply, Upload } from "./methods/Method.ts"
import { Sending } from "./methods/Sending.ts"
import * as UpdateMethods from "./methods/UpdateMethods.ts"
import type { Params } from "./params/Params.ts"
import { PreciseNow } from "./PreciseTime.ts"

export interface BotApiRequest {
  readonly token: string
  readonly method: string
  readonly params: Params
  readonly uploads: ReadonlyMap<string, Upload>
  readonly receivedAt: number
}

/** The HTTP answer to a call: status and Telegram's JSON body. */
export interface BotApiAnswer {
  readonly status: number
  readonly body: SuccessBody | ErrorBody
  readonly retryAfter?: number
}

export interface SuccessBody {
  readonly ok: true
  readonly result: unknown
  readonly description?: string
}

export class BotApi extends Context.Service<BotApi, {
  readonly call: (request: BotApiRequest) => Effect.Effect<BotApiAnswer>
  /** Answers a failure that happened before the call could be dispatched (e.g. an unreadable body). */
  readonly reject: (request: BotApiRequest, error: BotApiError) => Effect.Effect<BotApiAnswer>
}>()("tg-gateway/emulator/BotApi") {
  static readonly layer = Layer.effect(BotApi)(Effect.gen(function*() {
    const bots = yield* Bots
    const limits = yield* Limits
    const faults = yield* Faults
    const journal = yield* Journal
    const now = yield* PreciseNow
    const methods = new Map<string, Method>()
    for (const method of [
      ...(yield* MessageMethods.make),
      ...(yield* MediaMethods.make),
      ...(yield* BotMethods.make),
      ...(yield* UpdateMethods.make)
    ]) {
      methods.set(method.name.toLowerCase(), method)
    }

    const record = (request: BotApiRequest, botId: number | null, name: string, answer: BotApiAnswer) => {
      journal.recordCall({
        botId,
        method: name,
        params: loggedParams(request),
        receivedAt: request.receivedAt,
        durationMs: now() - request.receivedAt,
        status: answer.status,
        ok: answer.body.ok,
        ...(answer.body.ok || answer.body.description === undefined ? {} : { description: answer.body.description }),
        ...(answer.retryAfter === undefined ? {} : { retryAfter: answer.retryAfter })
      })
      return answer
    }

    const dispatch = Effect.fn("BotApi.dispatch")(function*(request: BotApiRequest) {
      const bot = bots.authenticate(request.token)
      if (bot === undefined) return { bot, method: undefined, answer: failure(unauthorized()) }
      const method = methods.get(request.method.toLowerCase())
      if (method === undefined) return { bot, method, answer: failure(notFound()) }
      // A long poll waits rather than works, so it does not take a slot of the in-flight cap.
      const counted = method.name !== "getUpdates"
      const busy = counted ? limits.enter(bot.id) : undefined
      if (busy !== undefined) return { bot, method, answer: failure(busy) }
      const answer = yield* Effect.gen(function*() {
        yield* faults.inject(method.name, method.sending)
        if (method.sending) {
          const flooded = limits.takeFlood(now())
          if (flooded !== undefined) return yield* flooded
        }
        return yield* method.run({
          bot,
          method: method.name,
          params: request.params,
          uploads: request.uploads,
          receivedAt: request.receivedAt,
          loggedParams: loggedParams(request)
        })
      }).pipe(
        Effect.map(success),
        Effect.catchTag("BotApiError", (error) => Effect.succeed(failure(error))),
        Effect.ensuring(Effect.sync(() => counted && limits.leave(bot.id)))
      )
      return { bot, method, answer }
    })

    return {
      call: (request) => {
        const name = methods.get(request.method.toLowerCase())?.name ?? request.method
        return Effect.acquireUseRelease(
          Effect.sync(() => journal.callStarted(name)),
          () =>
            dispatch(request).pipe(
              Effect.map(({ bot, answer }) => record(request, bot?.id ?? null, name, answer)),
              Effect.catchCause((cause) =>
                Cause.hasInterruptsOnly(cause)
                  ? Effect.failCause(cause)
                  : Effect.logError("Bot API call failed", cause).pipe(
                    Effect.as(record(request, bots.authenticate(request.token)?.id ?? null, name, internalError))
                  )
              )
            ),
          () => Effect.sync(() => journal.callEnded(name))
        )
      },
      reject: (request, error) =>
        Effect.sync(() => record(request, bots.authenticate(request.token)?.id ?? null, request.method, failure(error)))
    }
  })).pipe(Layer.provide(Sending.layer))
}

const success = (reply: Reply): BotApiAnswer => ({
  status: 200,
  body: { ok: true, result: reply.result, ...(reply.description === undefined ? {} : { description: reply.description }) }
})

const failure = (error: BotApiError): BotApiAnswer => ({
  status: error.code,
  body: error.toBody(),
  ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter })
})

const internalError: BotApiAnswer = {
  status: 500,
  body: { ok: false, error_code: 500, description: "Internal Server Error" }
}

const loggedParams = (request: BotApiRequest): Params => {
  if (request.uploads.size === 0) return request.params
  const described: Record<string, unknown> = { ...request.params }
  for (const [field, upload] of request.uploads) {
    described[field] = { file: upload.fileName, size: upload.content.byteLength }
  }
  return described
}
