/**
 * Deep-link payloads are one-time tokens since the deep-link service: they are resolved and only their hash is
 * kept (`deep_links`). The payload column of `chats`, which kept the first one in clear, goes.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`ALTER TABLE chats DROP COLUMN IF EXISTS start_payload`
})
