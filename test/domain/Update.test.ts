/**
 * Routing: each kind of update goes to the actor of its chat (callback queries to the chat of the message their
 * button is on, inline queries to their sender), unknown kinds to chat 0, and anything else is not an update.
 */
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { parseUpdate, routeUpdate } from "../../src/domain/Update.ts"

const route = (json: unknown) => Option.getOrUndefined(routeUpdate(json))

describe("update routing", () => {
  it("routes every kind to its chat", () => {
    const chat = { chat: { id: -100123, type: "supergroup" } }
    for (const kind of ["message", "edited_message", "channel_post", "my_chat_member", "chat_join_request"]) {
      assert.deepStrictEqual(route({ update_id: 1, [kind]: chat }), { updateId: 1, chatId: -100123 }, kind)
    }
    assert.deepStrictEqual(route({ update_id: 2, callback_query: { id: "q", from: { id: 5 }, message: chat } }), {
      updateId: 2,
      chatId: -100123
    })
    assert.deepStrictEqual(route({ update_id: 3, callback_query: { id: "q", from: { id: 5 } } }), {
      updateId: 3,
      chatId: 5
    })
    assert.deepStrictEqual(route({ update_id: 4, inline_query: { id: "i", from: { id: 6 } } }), {
      updateId: 4,
      chatId: 6
    })
    assert.deepStrictEqual(route({ update_id: 5, poll_answer: { user: { id: 7 } } }), { updateId: 5, chatId: 7 })
    assert.deepStrictEqual(route({ update_id: 6, some_future_kind: { x: 1 } }), { updateId: 6, chatId: 0 })
  })

  it("refuses what is not an update", () => {
    for (const json of [{}, null, [1], "x", { update_id: "1" }, { update_id: 1.5 }, { update_id: -1 }]) {
      assert.isUndefined(route(json), JSON.stringify(json))
    }
    assert.isUndefined(route({ update_id: 1, message: { text: "no chat" } }))
    assert.isUndefined(route({ update_id: 1, message: { chat: { id: "7" } } }))
    assert.isUndefined(route({ update_id: 1, callback_query: { id: "q" } }))
    assert.strictEqual(parseUpdate("{\"update_id\":"), "malformed")
    assert.deepStrictEqual(parseUpdate("{\"update_id\":9,\"message\":{\"chat\":{\"id\":3}}}"), Option.some({
      updateId: 9,
      chatId: 3
    }))
  })
})
