/**
 * Support in the bot: "Open a ticket" asks for a description, a too-short answer is asked again, the next real
 * message opens the ticket (stored once, the platform told by `support_ticket_opened` without the text), and a
 * money question inside the description stays in the ticket instead of being answered as a money intent; "Contact
 * an operator" hands the chat to the platform's support (`support_operator_requested`).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { en } from "../../src/bot/texts/en.ts"
import { UpdateBuilders } from "../../src/emulator/index.ts"
import { startBotGateway } from "../support/EmulatorGateway.ts"
import { redisClient } from "../support/Infra.ts"

describe("support in the bot", () => {
  it.live("opens a ticket from the player's next message and tells the platform", () =>
    Effect.gen(function*() {
      const eventsStream = `t-support-${Date.now()}:gateway:events`
      const { emulator, databaseUrl } = yield* startBotGateway("t-support", { GATEWAY_EVENTS_STREAM: eventsStream })
      const redis = yield* redisClient()
      yield* Effect.addFinalizer(() => Effect.promise(() => redis.del(eventsStream)))
      const chat = 941
      yield* emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: chat }, chatId: chat, messageId: 1, data: "v1:support:ticket" }))
      assert.strictEqual((yield* emulator.awaitMessages(chat, 1))[0]!.text, en.ticketAsk)
      yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: chat, text: "hi" }))
      assert.strictEqual((yield* emulator.awaitMessages(chat, 2))[1]!.text, en.ticketTooShort)
      const description = "I cannot withdraw since yesterday, the cabinet shows an error"
      yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: chat, text: description }))
      const opened = (yield* emulator.awaitMessages(chat, 3))[2]!.text!
      const id = Number(/(\d+)\.$/.exec(opened)?.[1])
      assert.strictEqual(opened, `${en.ticketOpened} ${id}.`)

      const rows = yield* Effect.scoped(Effect.flatMap(PgClient.make({ url: Redacted.make(databaseUrl) }), (sql) =>
        sql<{ id: string; telegram_user_id: string; description: string; status: string }>`
          SELECT id::text, telegram_user_id::text, description, status FROM support_tickets`)).pipe(Effect.provide(Reactivity.layer))
      assert.deepStrictEqual(rows.map((r) => ({ ...r })), [{ id: String(id), telegram_user_id: String(chat), description, status: "open" }])
      const events = (yield* Effect.promise(() => redis.xrange(eventsStream, "-", "+")))
        .map(([, fields]) => fields[fields.indexOf("event") + 1]!)
      assert.strictEqual(events.length, 1)
      assert.deepInclude(JSON.parse(events[0]!), { type: "support_ticket_opened", ticket_id: id, telegram_user_id: chat })
      assert.notInclude(events[0]!, "withdraw", "the description stays out of the stream")

      // The flow is over: the same words now are an ordinary money question.
      yield* emulator.injectUpdate(UpdateBuilders.textMessage({ chatId: chat, text: description }))
      assert.strictEqual((yield* emulator.awaitMessages(chat, 4))[3]!.text, en.moneyInCabinet)

      // "Contact an operator" tells the platform's support which chat to answer in.
      yield* emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: chat }, chatId: chat, messageId: 1, data: "v1:support:contact" }))
      assert.strictEqual((yield* emulator.awaitMessages(chat, 5))[4]!.text, en.contactAnswer)
      const all = (yield* Effect.promise(() => redis.xrange(eventsStream, "-", "+")))
        .map(([, fields]) => JSON.parse(fields[fields.indexOf("event") + 1]!) as Record<string, unknown>)
      assert.deepInclude(all[1]!, { type: "support_operator_requested", telegram_user_id: chat, chat_id: chat })
    }))
})
