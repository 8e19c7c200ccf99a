/**
 * Deep links end to end, through the webhook and the Bot API emulator: a campaign link attributes the player
 * (first touch wins) and tells the platform once; the same token in a second chat is refused as reused, and of
 * 50 chats sending one token at once exactly one wins; an expired or unknown token gets its own message; a
 * `link_account` link asks for confirmation, links, tells the platform, and a second link to another account is
 * refused. No message names the platform account.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { en } from "../../src/bot/texts/en.ts"
import { UpdateBuilders } from "../../src/emulator/index.ts"
import { startBotGateway } from "../support/EmulatorGateway.ts"
import { redisClient } from "../support/Infra.ts"

const internalToken = "internal-token-0123456789abcdefghijklmnop"

const setup = (label: string, extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const eventsStream = `${label}-${Date.now()}:gateway:events`
    const gateway = yield* startBotGateway(label, {
      INTERNAL_API_TOKEN: internalToken,
      BOT_USERNAME: "casino_bot",
      GATEWAY_EVENTS_STREAM: eventsStream,
      ...extra
    })
    const redis = yield* redisClient()
    yield* Effect.addFinalizer(() => Effect.promise(() => redis.del(eventsStream)))
    const newLink = (body: unknown) =>
      Effect.promise(async () => {
        const response = await fetch(`${gateway.url}/v1/internal/deep-links`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${internalToken}` },
          body: JSON.stringify(body)
        })
        return ((await response.json()) as { token: string }).token
      })
    const events = Effect.promise(async () =>
      (await redis.xrange(eventsStream, "-", "+")).map(([, fields]) =>
        JSON.parse(fields[fields.indexOf("event") + 1]!) as Record<string, unknown>
      )
    )
    const query = <A extends object>(run: (sql: PgClient.PgClient) => Effect.Effect<ReadonlyArray<A>, unknown>) =>
      Effect.scoped(Effect.flatMap(PgClient.make({ url: Redacted.make(gateway.databaseUrl) }), run)).pipe(
        Effect.provide(Reactivity.layer),
        Effect.orDie
      )
    const start = (chatId: number, token: string) =>
      gateway.emulator.injectUpdate(UpdateBuilders.command({ chatId, command: "start", args: token }))
    return { ...gateway, newLink, events, query, start }
  })

describe("deep links in the bot", () => {
  it.live("a campaign link attributes the player once; the same token in another chat is refused as reused", () =>
    Effect.gen(function*() {
      const { emulator, newLink, events, query, start } = yield* setup("t-dl-campaign")
      const token = yield* newLink({ action: "campaign", params: { affiliate_id: "aff-7", campaign_id: "spring", click_id: "k-1" } })
      yield* start(701, token)
      const [welcome] = yield* emulator.awaitMessages(701, 1)
      assert.strictEqual(welcome!.text, `${en.welcome}\n\n${en.campaignWelcome}`)

      yield* start(702, token)
      const [refused] = yield* emulator.awaitMessages(702, 1)
      assert.strictEqual(refused!.text, `${en.welcome}\n\n${en.linkReused}`)

      // A later campaign does not replace the first touch.
      const other = yield* newLink({ action: "campaign", params: { affiliate_id: "aff-8", campaign_id: "summer" } })
      yield* start(701, other)
      yield* emulator.awaitMessages(701, 2)
      const rows = yield* query((sql) => sql<{ telegram_user_id: string; affiliate_id: string; campaign_id: string; click_id: string }>`
        SELECT telegram_user_id::text, affiliate_id, campaign_id, click_id FROM attributions`)
      assert.deepStrictEqual(rows.map((r) => ({ ...r })), [{ telegram_user_id: "701", affiliate_id: "aff-7", campaign_id: "spring", click_id: "k-1" }])
      const published = yield* events
      assert.deepStrictEqual(published.map((e) => [e["type"], e["telegram_user_id"], e["campaign_id"]]), [["telegram_attribution", 701, "spring"]])
    }))

  it.live("50 chats send /start with one token at once: exactly one is welcomed by the campaign, 49 are told it was used", () =>
    Effect.gen(function*() {
      const { emulator, newLink, query, start } = yield* setup("t-dl-fifty")
      const token = yield* newLink({ action: "campaign", params: { affiliate_id: "aff-50", campaign_id: "rush" } })
      const chats = Array.from({ length: 50 }, (_, i) => 60_000 + i)
      yield* Effect.all(chats.map((chat) => start(chat, token)), { concurrency: "unbounded" })
      const answers = yield* Effect.all(chats.map((chat) => emulator.awaitMessages(chat, 1, { timeout: "30 seconds" })))
      const texts = answers.map(([m]) => m!.text)
      assert.strictEqual(texts.filter((t) => t === `${en.welcome}\n\n${en.campaignWelcome}`).length, 1)
      assert.strictEqual(texts.filter((t) => t === `${en.welcome}\n\n${en.linkReused}`).length, 49)
      const attributed = yield* query((sql) => sql<{ n: string }>`SELECT count(*)::text AS n FROM attributions`)
      assert.strictEqual(attributed[0]!.n, "1")
    }))

  it.live("expired, unknown and malformed tokens get their own friendly messages", () =>
    Effect.gen(function*() {
      const { emulator, newLink, query, start } = yield* setup("t-dl-refused")
      const token = yield* newLink({ action: "campaign", params: { affiliate_id: "a", campaign_id: "c" } })
      yield* query((sql) => sql`UPDATE deep_links SET expires_at = now() - interval '1 second' RETURNING 1`)
      yield* start(711, token)
      yield* start(712, "A".repeat(32))
      yield* start(713, "bad$token")
      yield* start(714, "x".repeat(65))
      const texts = yield* Effect.all([711, 712, 713, 714].map((chat) => emulator.awaitMessages(chat, 1)))
      assert.deepStrictEqual(texts.map(([m]) => m!.text), [en.linkExpired, en.linkInvalid, en.linkInvalid, en.linkInvalid]
        .map((text) => `${en.welcome}\n\n${text}`))
    }))

  it.live("link_account: confirm links and tells the platform; a second link to another account is refused", () =>
    Effect.gen(function*() {
      const { emulator, newLink, events, query, start } = yield* setup("t-dl-link")
      const token = yield* newLink({ action: "link_account", platform_user_id: "player-42" })
      yield* start(721, token)
      const [prompt] = yield* emulator.awaitMessages(721, 1)
      assert.strictEqual(prompt!.text, `${en.welcome}\n\n${en.linkConfirm}`)
      assert.notInclude(prompt!.text ?? "", "player-42")
      yield* emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: 721 }, chatId: 721, messageId: prompt!.message_id, data: "v1:link:confirm" }))
      const messages = yield* emulator.awaitMessages(721, 2)
      assert.strictEqual(messages[1]!.text, en.linkDone)
      const linked = yield* query((sql) => sql<{ platform_user_id: string; chat_id: string }>`
        SELECT platform_user_id, chat_id::text FROM identities WHERE telegram_user_id = 721`)
      assert.deepStrictEqual(linked.map((r) => ({ ...r })), [{ platform_user_id: "player-42", chat_id: "721" }])

      const second = yield* newLink({ action: "link_account", platform_user_id: "player-43" })
      yield* start(721, second)
      const third = yield* emulator.awaitMessages(721, 3)
      yield* emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: 721 }, chatId: 721, messageId: third[2]!.message_id, data: "v1:link:confirm" }))
      const all = yield* emulator.awaitMessages(721, 4)
      assert.strictEqual(all[3]!.text, en.linkTaken)
      // A confirmation pressed again after it was used finds nothing to confirm.
      yield* emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: 721 }, chatId: 721, messageId: third[2]!.message_id, data: "v1:link:confirm" }))
      assert.strictEqual((yield* emulator.awaitMessages(721, 5))[4]!.text, en.linkPendingGone)
      const published = yield* events
      assert.deepStrictEqual(published.map((e) => [e["type"], e["telegram_user_id"], e["platform_user_id"]]), [["telegram_linked", 721, "player-42"]])
    }))

  it.live("a /start handled twice (its reply failed once) still asks to confirm the link: the token is not used up", () =>
    Effect.gen(function*() {
      const { emulator, newLink, start } = yield* setup("t-dl-rerun")
      const token = yield* newLink({ action: "link_account", platform_user_id: "player-77" })
      yield* emulator.configureFaults({ errorRate: 1, errorStatus: 500, methods: ["sendMessage"] })
      yield* start(731, token)
      yield* emulator.awaitCalls((c) => c.method === "sendMessage" && c.status === 500)
      yield* emulator.configureFaults({ errorRate: 0 })
      const [prompt] = yield* emulator.awaitMessages(731, 1, { timeout: "20 seconds" })
      assert.strictEqual(prompt!.text, `${en.welcome}\n\n${en.linkConfirm}`)
      yield* emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: 731 }, chatId: 731, messageId: prompt!.message_id, data: "v1:link:confirm" }))
      assert.strictEqual((yield* emulator.awaitMessages(731, 2))[1]!.text, en.linkDone)
    }))

  it.live("only the player who opened a link may confirm it", () =>
    Effect.gen(function*() {
      const { emulator, newLink, start, query } = yield* setup("t-dl-other")
      const token = yield* newLink({ action: "link_account", platform_user_id: "player-78" })
      yield* start(741, token)
      const [prompt] = yield* emulator.awaitMessages(741, 1)
      // Someone else's press on that chat's button (a forged query): nothing is linked.
      yield* emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: 742 }, chatId: 741, messageId: prompt!.message_id, data: "v1:link:confirm" }))
      assert.strictEqual((yield* emulator.awaitMessages(741, 2))[1]!.text, en.linkPendingGone)
      const linked = yield* query((sql) => sql<{ n: string }>`SELECT count(*)::text AS n FROM identities WHERE platform_user_id IS NOT NULL`)
      assert.strictEqual(linked[0]!.n, "0")
      // The player's own press still works.
      yield* emulator.injectUpdate(UpdateBuilders.callbackQuery({ from: { id: 741 }, chatId: 741, messageId: prompt!.message_id, data: "v1:link:confirm" }))
      assert.strictEqual((yield* emulator.awaitMessages(741, 3))[2]!.text, en.linkDone)
    }))

  it.live("a referral credits new players once each, at most REFERRALS_PER_DAY a day, never an existing player", () =>
    Effect.gen(function*() {
      const { emulator, newLink, events, query, start } = yield* setup("t-dl-referral", { REFERRALS_PER_DAY: "2" })
      const token = yield* newLink({ action: "referral", platform_user_id: "referrer-1", max_uses: 10 })
      // An existing player (already linked) is not a new one.
      yield* query((sql) => sql`INSERT INTO identities (telegram_user_id, platform_user_id, linked_at) VALUES (750, 'player-750', now()) RETURNING 1`)
      for (const chat of [750, 751, 752, 753]) {
        yield* start(chat, token)
        yield* emulator.awaitMessages(chat, 1)
      }
      const credited = yield* query((sql) => sql<{ id: string }>`SELECT telegram_user_id::text AS id FROM referrals ORDER BY telegram_user_id`)
      assert.deepStrictEqual(credited.map((r) => r.id), ["751", "752"])
      assert.deepStrictEqual((yield* events).map((e) => [e["type"], e["telegram_user_id"]]), [["telegram_referral", 751], ["telegram_referral", 752]])
    }))
})
