/**
 * The bots behind the tokens: which tokens are accepted (a configured set, or any well-formed
 * token), the bot user a token stands for (its id is the part before ':'), and each bot's command
 * lists per scope and language.
 */
import { Context, Effect, Layer } from "effect"
import { Settings } from "./Options.ts"
import type { BotCommand, User } from "./TelegramTypes.ts"

export interface Bot {
  readonly id: number
  readonly token: string
  readonly user: User
}

/** `<bot id>:<secret>`, the secret being about 35 characters of A-Z a-z 0-9 _ -. */
const wellFormed = /^(\d{1,20}):[A-Za-z0-9_-]{30,40}$/

export class Bots extends Context.Service<Bots, {
  /** The bot a token belongs to, or `undefined` when the token is not accepted (401). */
  readonly authenticate: (token: string) => Bot | undefined
  /** The bot with this id if it was seen or is the default one. */
  readonly byId: (botId: number) => Bot | undefined
  readonly defaultBot: Bot
  readonly known: () => ReadonlyArray<Bot>
  readonly setCommands: (botId: number, scopeKey: string, commands: ReadonlyArray<BotCommand>) => void
  readonly getCommands: (botId: number, scopeKey: string) => ReadonlyArray<BotCommand>
  readonly reset: Effect.Effect<void>
}>()("tg-gateway/emulator/Bots") {
  static readonly layer = Layer.effect(Bots)(Effect.gen(function*() {
    const settings = yield* Settings
    const makeBot = (token: string, id: number): Bot => ({
      id,
      token,
      user: {
        id,
        is_bot: true,
        first_name: settings.botFirstName,
        username: settings.botUsername ?? `emulator_${id}_bot`,
        can_join_groups: true,
        can_read_all_group_messages: false,
        supports_inline_queries: false
      }
    })
    const defaultBot = makeBot(settings.token, botIdOf(settings.token) ?? 0)
    let seen = new Map<string, Bot>([[defaultBot.token, defaultBot]])
    let commands = new Map<string, ReadonlyArray<BotCommand>>()

    const accepted = (token: string) =>
      settings.tokens === null ? wellFormed.test(token) : settings.tokens.has(token)

    return {
      authenticate: (token) => {
        const known = seen.get(token)
        if (known !== undefined) return known
        const id = botIdOf(token)
        if (id === undefined || !accepted(token)) return undefined
        const bot = makeBot(token, id)
        seen.set(token, bot)
        return bot
      },
      byId: (botId) => [...seen.values()].find((bot) => bot.id === botId),
      defaultBot,
      known: () => [...seen.values()],
      setCommands: (botId, scopeKey, list) => {
        if (list.length === 0) commands.delete(`${botId}|${scopeKey}`)
        else commands.set(`${botId}|${scopeKey}`, list)
      },
      getCommands: (botId, scopeKey) => commands.get(`${botId}|${scopeKey}`) ?? [],
      reset: Effect.sync(() => {
        seen = new Map([[defaultBot.token, defaultBot]])
        commands = new Map()
      })
    }
  }))
}

/** The bot id of a token: the digits before ':'. */
export const botIdOf = (token: string): number | undefined => {
  const match = /^(\d{1,20}):/.exec(token)
  return match === null ? undefined : Number(match[1])
}
