/**
 * A Bot API error as Telegram reports it: `error_code`, `description` and the optional
 * `parameters`. Every failure a method can answer is one of these; the constructors below carry
 * Telegram's exact descriptions so callers can match on them as they would in production.
 */
import { Schema } from "effect"

export class BotApiError extends Schema.TaggedError<BotApiError>()("BotApiError", {
  code: Schema.Int,
  description: Schema.String,
  retryAfter: Schema.optionalKey(Schema.Int),
  migrateToChatId: Schema.optionalKey(Schema.Int)
}) {
  /** The body Telegram sends for this error. */
  toBody(): ErrorBody {
    const parameters = {
      ...(this.retryAfter === undefined ? {} : { retry_after: this.retryAfter }),
      ...(this.migrateToChatId === undefined ? {} : { migrate_to_chat_id: this.migrateToChatId })
    }
    return {
      ok: false,
      error_code: this.code,
      description: this.description,
      ...(Object.keys(parameters).length === 0 ? {} : { parameters })
    }
  }
}

export interface ErrorBody {
  readonly ok: false
  readonly error_code: number
  readonly description: string
  readonly parameters?: { readonly retry_after?: number; readonly migrate_to_chat_id?: number }
}

const make = (code: number, description: string) => new BotApiError({ code, description })

export const badRequest = (detail: string) => make(400, `Bad Request: ${detail}`)

export const unauthorized = () => make(401, "Unauthorized")

export const notFound = () => make(404, "Not Found")

export const tooManyRequests = (retryAfterSeconds: number) => {
  const retryAfter = Math.max(1, Math.ceil(retryAfterSeconds))
  return new BotApiError({ code: 429, description: `Too Many Requests: retry after ${retryAfter}`, retryAfter })
}

export const conflictWebhookActive = () =>
  make(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")

export const conflictOtherPoller = () =>
  make(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")

export const chatNotFound = () => badRequest("chat not found")

/** A group that became a supergroup: Telegram names the new chat id, and the sender must retry there. */
export const groupMigrated = (migrateToChatId: number) =>
  new BotApiError({
    code: 400,
    description: "Bad Request: group chat was upgraded to a supergroup chat",
    migrateToChatId
  })

export const botBlocked = () => make(403, "Forbidden: bot was blocked by the user")

export const userDeactivated = () => make(403, "Forbidden: user is deactivated")

export const botKicked = (type: "group" | "supergroup" | "channel") =>
  make(403, type === "channel" ? "Forbidden: bot is not a member of the channel chat" : `Forbidden: bot was kicked from the ${type} chat`)

export const serverError = (status: number, statusText: string) => make(status, statusText)
