/**
 * HTTP load for benchmarks, with undici's connection pool. `openLoop` offers a fixed rate and measures each
 * request from the moment it was *scheduled* (no coordinated omission: a stalled server shows up as latency);
 * `closedLoop` keeps C requests in flight for D seconds to find the maximum rate.
 */
import { Pool } from "undici"

export type Request = { readonly path: string; readonly body: string; readonly headers: Record<string, string> }

export type LoadResult = {
  readonly sent: number
  readonly seconds: number
  readonly rate: number
  readonly p50: number
  readonly p90: number
  /** Not reported by the C generator. */
  readonly p95?: number
  readonly p99: number
  readonly max: number
  readonly statuses: Record<string, number>
  readonly errors: number
}

const quantile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

export const summarize = (latencies: Array<number>, seconds: number, statuses: Record<string, number>, errors: number): LoadResult => {
  latencies.sort((a, b) => a - b)
  return {
    sent: latencies.length,
    seconds,
    rate: latencies.length / seconds,
    p50: quantile(latencies, 0.5),
    p90: quantile(latencies, 0.9),
    p95: quantile(latencies, 0.95),
    p99: quantile(latencies, 0.99),
    max: latencies[latencies.length - 1] ?? 0,
    statuses,
    errors
  }
}

const send = async (pool: Pool, request: Request) => {
  const response = await pool.request({ method: "POST", path: request.path, headers: request.headers, body: request.body })
  await response.body.dump()
  return response.statusCode
}

/** `rate` requests per second for `seconds`, from `next(i)`. */
export const openLoop = async (
  origin: string,
  options: { readonly rate: number; readonly seconds: number; readonly connections?: number },
  next: (i: number) => Request
): Promise<LoadResult> => {
  const pool = new Pool(origin, { connections: options.connections ?? 64, pipelining: 1 })
  const total = Math.round(options.rate * options.seconds)
  const latencies: Array<number> = []
  const statuses: Record<string, number> = {}
  let errors = 0
  const start = performance.now()
  const inFlight: Array<Promise<void>> = []
  let issued = 0
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now()
      const due = Math.min(total, Math.floor(((now - start) / 1000) * options.rate) + 1)
      for (; issued < due; issued++) {
        const scheduled = start + (issued / options.rate) * 1000
        inFlight.push(
          send(pool, next(issued)).then(
            (status) => {
              latencies.push(performance.now() - scheduled)
              statuses[status] = (statuses[status] ?? 0) + 1
            },
            () => {
              errors++
            }
          )
        )
      }
      if (issued >= total) resolve()
      else setTimeout(tick, 1)
    }
    tick()
  })
  await Promise.all(inFlight)
  const seconds = (performance.now() - start) / 1000
  await pool.close()
  return summarize(latencies, seconds, statuses, errors)
}

/** `concurrency` requests always in flight for `seconds`. */
export const closedLoop = async (
  origin: string,
  options: { readonly concurrency: number; readonly seconds: number },
  next: (i: number) => Request
): Promise<LoadResult> => {
  const pool = new Pool(origin, { connections: options.concurrency, pipelining: 1 })
  const latencies: Array<number> = []
  const statuses: Record<string, number> = {}
  let errors = 0
  let i = 0
  const start = performance.now()
  const end = start + options.seconds * 1000
  await Promise.all(Array.from({ length: options.concurrency }, async () => {
    while (performance.now() < end) {
      const begun = performance.now()
      try {
        const status = await send(pool, next(i++))
        latencies.push(performance.now() - begun)
        statuses[status] = (statuses[status] ?? 0) + 1
      } catch {
        errors++
      }
    }
  }))
  const seconds = (performance.now() - start) / 1000
  await pool.close()
  return summarize(latencies, seconds, statuses, errors)
}
