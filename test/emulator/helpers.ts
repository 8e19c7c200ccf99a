/**
 * Test helpers for the emulator: Bot API calls over real HTTP (JSON, form, query string or
 * multipart), control API calls, and a local webhook receiver that records what it is sent.
 */
import { Deferred, Effect } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

export interface ApiBody {
  readonly ok: boolean
  readonly result?: unknown
  readonly description?: string
  readonly error_code?: number
  readonly parameters?: { readonly retry_after?: number }
  readonly error?: string
}

export interface ApiResponse {
  readonly status: number
  readonly headers: Headers
  readonly body: ApiBody
}

export type Encoding = "json" | "form" | "query" | "multipart"

export interface CallOptions {
  readonly encoding?: Encoding
  readonly files?: Readonly<Record<string, { readonly name: string; readonly content: string }>>
}

const toField = (value: unknown) => typeof value === "string" ? value : JSON.stringify(value)

/** Calls `<url>/bot<token>/<method>` with the parameters encoded as asked (JSON by default). */
export const botCall = (
  url: string,
  token: string,
  method: string,
  params: Readonly<Record<string, unknown>> = {},
  options: CallOptions = {}
): Effect.Effect<ApiResponse> =>
  Effect.promise(async () => {
    const encoding = options.encoding ?? "json"
    let target = `${url}/bot${token}/${method}`
    let init: RequestInit = { method: "POST" }
    if (encoding === "json") {
      init = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(params) }
    } else if (encoding === "form") {
      const body = new URLSearchParams()
      for (const [key, value] of Object.entries(params)) body.set(key, toField(value))
      init = { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body }
    } else if (encoding === "query") {
      const query = new URLSearchParams()
      for (const [key, value] of Object.entries(params)) query.set(key, toField(value))
      target = `${target}?${query}`
      init = { method: "GET" }
    } else {
      const body = new FormData()
      for (const [key, value] of Object.entries(params)) body.set(key, toField(value))
      for (const [key, file] of Object.entries(options.files ?? {})) body.set(key, new Blob([file.content]), file.name)
      init = { method: "POST", body }
    }
    const response = await fetch(target, init)
    return { status: response.status, headers: response.headers, body: (await response.json()) as ApiBody }
  })

/** Calls the control API: GET without a body, POST with one. */
export const controlCall = (url: string, path: string, body?: unknown): Effect.Effect<ApiResponse> =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/_emulator${path}`, body === undefined ? {} : {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    return { status: response.status, headers: response.headers, body: (await response.json()) as ApiBody }
  })

/** The `result` of a successful call, typed by the caller. */
export const resultOf = <T>(response: ApiResponse): T => {
  if (!response.body.ok) throw new Error(`call failed: ${JSON.stringify(response.body)}`)
  return response.body.result as T
}

export interface Delivery {
  readonly headers: Http.IncomingHttpHeaders
  readonly update: { readonly update_id: number; readonly [field: string]: unknown }
  readonly startedAt: number
  finishedAt: number
}

/**
 * A webhook receiver on a loopback port. `answer` decides each response (after an optional
 * delay); every request is recorded, and `received(n)` completes once n requests have finished.
 */
export const webhookReceiver = (
  answer: (delivery: Delivery, index: number) => { readonly status: number; readonly delayMs?: number }
) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const deliveries: Array<Delivery> = []
      const waiters: Array<{ readonly count: number; readonly done: Deferred.Deferred<void> }> = []
      const server = Http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const delivery: Delivery = {
            headers: request.headers,
            update: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Delivery["update"],
            startedAt: performance.now(),
            finishedAt: 0
          }
          const index = deliveries.push(delivery) - 1
          const { status, delayMs = 0 } = answer(delivery, index)
          setTimeout(() => {
            delivery.finishedAt = performance.now()
            response.writeHead(status, { "content-type": "application/json" }).end("{}")
            const finished = deliveries.filter((d) => d.finishedAt > 0).length
            for (const waiter of waiters) if (finished >= waiter.count) Deferred.doneUnsafe(waiter.done, Effect.void)
          }, delayMs)
        })
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const port = (server.address() as AddressInfo).port
      return {
        url: `http://127.0.0.1:${port}/hook`,
        deliveries,
        server,
        received: (count: number) =>
          Effect.suspend(() => {
            if (deliveries.filter((d) => d.finishedAt > 0).length >= count) return Effect.void
            const done = Deferred.makeUnsafe<void>()
            waiters.push({ count, done })
            return Deferred.await(done)
          })
      }
    }),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  )

/** A loopback port nothing listens on (bound, then released). */
export const unusedPort: Effect.Effect<number> = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = Http.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port
      server.close(() => resolve(port))
    })
  })
)
