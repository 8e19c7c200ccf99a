/**
 * The bot's `Composer` runs the same middleware in the same order as grammY's: the same bot built with both is
 * given the same updates and must leave the same trace.
 */
import { describe, expect, it } from "@effect/vitest"
import { Api, Composer as GrammyComposer, Context } from "grammy"
import type { Update, UserFromGetMe } from "grammy/types"
import { Composer } from "../../src/bot/Composer.ts"

const me = {
  id: 1,
  is_bot: true,
  first_name: "Bot",
  username: "the_bot",
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
  has_topics_enabled: false,
  allows_users_to_create_topics: false
} as unknown as UserFromGetMe

const chat = { id: 5, type: "private" as const, first_name: "P" }
const from = { id: 5, is_bot: false, first_name: "P" }
const message = (text: string, extra: object = {}): Update => ({
  update_id: 1,
  message: { message_id: 1, date: 1, chat, from, text, ...extra }
})
const command = (name: string) =>
  message(`/${name}`, { entities: [{ type: "bot_command", offset: 0, length: name.length + 1 }] })
const callback = (data: string): Update => ({
  update_id: 2,
  callback_query: { id: "q", from, chat_instance: "i", data, message: { message_id: 1, date: 1, chat, text: "x" } }
})

type AnyComposer = GrammyComposer<Context>

/** One bot, built with either composer: features, nesting, a flow that passes on, branches, an async predicate. */
const build = (make: () => AnyComposer, log: Array<string>) => {
  const flow = make()
  flow.on("message:text", async (_ctx, next) => {
    log.push("flow:before")
    await next()
    log.push("flow:after")
  })
  const start = make()
  start.command("start", (ctx) => void log.push(`start:${ctx.match}`))
  const menu = make()
  menu.hears(["Profile", "Profil"], () => void log.push("menu:profile"))
  menu.callbackQuery(/^m:(.+)$/, (ctx) => void log.push(`menu:cb:${ctx.match[1]}`))
  const later = menu.filter((ctx) => ctx.message?.text === "later")
  // Added after `filter` returned its composer: must still run.
  later.use(() => void log.push("menu:later"))
  const slow = make()
  slow.drop(async (ctx) => ctx.message?.text !== "slow", () => void log.push("slow:kept"))
  const split = make()
  const after = split.branch(
    (ctx) => ctx.message?.text === "left",
    (_ctx, next) => {
      log.push("split:left")
      return next()
    },
    (_ctx, next) => {
      log.push("split:right")
      return next()
    }
  )
  after.use((_ctx, next) => {
    log.push("split:after")
    return next()
  })
  const groupOnly = make()
  groupOnly.chatType("group").on("message", () => void log.push("group"))
  const fallback = make()
  fallback.chatType("private").on("message", () => void log.push("fallback"))
  fallback.on("callback_query", () => void log.push("fallback:cb"))
  return make().use(flow, start, menu, slow, split, groupOnly, fallback)
}

const trace = async (make: () => AnyComposer, update: Update) => {
  const log: Array<string> = []
  const bot = build(make, log)
  const ctx = new Context(update, new Api("0:x"), me)
  await bot.middleware()(ctx, async () => void log.push("end"))
  return log
}

const grammy = () => new GrammyComposer<Context>()
const ours = () => new Composer<Context>()

describe("Composer", () => {
  const updates: ReadonlyArray<[string, Update]> = [
    ["a command", command("start")],
    ["a menu button", message("Profil")],
    ["middleware added to a filter's composer later", message("later")],
    ["an async predicate", message("slow")],
    ["the left side of a branch", message("left")],
    ["a message no feature wants", message("hello")],
    ["a callback the menu knows", callback("m:open")],
    ["a callback nobody knows", callback("zzz")],
    ["an update nobody handles (the caller's next runs)", {
      update_id: 3,
      edited_message: { message_id: 1, date: 1, edit_date: 2, chat, from, text: "x" }
    }]
  ]
  for (const [name, update] of updates) {
    it(`runs grammY's middleware in grammY's order: ${name}`, async () => {
      const expected = await trace(grammy, update)
      expect(expected.length).toBeGreaterThan(0)
      expect(await trace(ours, update)).toEqual(expected)
    })
  }

  it("refuses a second call of the same next, as grammY does", async () => {
    const bot = new Composer<Context>()
    bot.use(async (_ctx, next) => {
      await next()
      await next()
    })
    const ctx = new Context(message("x"), new Api("0:x"), me)
    await expect(bot.middleware()(ctx, async () => {})).rejects.toThrow("`next` already called before!")
  })

  it("turns a middleware that throws into a rejection", async () => {
    const bot = new Composer<Context>()
    bot.on("message", () => {
      throw new Error("boom")
    })
    const ctx = new Context(message("x"), new Api("0:x"), me)
    const run = bot.middleware()(ctx, async () => {})
    expect(run).toBeInstanceOf(Promise)
    await expect(run).rejects.toThrow("boom")
  })
})
