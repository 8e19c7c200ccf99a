/** Turns a start-up failure into one line: which setting is wrong and why, or which dependency is down. */
import { Cause } from "effect"

const pathPattern = /at \["([A-Z0-9_]+)"\]/

export const describeStartupFailure = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause) as { _tag?: string; cause?: unknown; message?: string }
  if (error?._tag === "ConfigError") {
    const text = String(error.cause)
    const variable = pathPattern.exec(text)?.[1]
    const reason = text.split("\n")[0]!.replace(/^SchemaError\(/, "").replace(/\)$/, "")
    const missing = /^Expected (string|a value)/.test(reason) && /Missing|undefined|Expected string$/.test(reason)
    return variable === undefined
      ? `configuration error: ${reason}`
      : `configuration error: ${variable}: ${missing ? "is required but not set" : reason}`
  }
  const message = error?._tag === "RedisError" || error?._tag === "SqlError"
    ? String(error.cause instanceof Error ? error.cause.message : error.cause ?? error.message)
    : error instanceof Error ? error.message : String(error)
  return `${error?._tag ?? "error"}: ${message.split("\n")[0]}`
}
