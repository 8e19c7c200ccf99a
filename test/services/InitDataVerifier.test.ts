/**
 * initData checks: public vectors of another implementation verify, each kind of tampering or staleness is
 * refused with its own code, and thousands of random or mutated strings never crash the verifier nor pass it
 * unless what they say is exactly what was signed.
 *
 * Vectors: the documentation of `@telegram-apps/init-data-node` (Telegram Mini Apps project,
 * https://docs.telegram-mini-apps.com/packages/telegram-apps-init-data-node): its "hashed token" example (the
 * secret key of bot token `5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8` and initData signed with it) and its
 * `validate3rd` example (initData of bot 7342037359 signed by Telegram's production Ed25519 key).
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import {
  botIdOf,
  checkInitData,
  type CheckOptions,
  dataCheckString,
  InitDataVerifier,
  secretKeyOf,
  telegramPublicKey
} from "../../services/InitDataVerifier.ts"
import { AuthError, type InitData } from "../../src/domain/TelegramAuth.ts"
import { initDataFor, signInitData } from "../support/TelegramSigning.ts"

const vectorToken = "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8"
const vectorSecret = "a5c609aa52f63cb5e6d8ceb6e4138726ea82bbc36bb786d64482d445ea38ee5f"
const vectorHmac = "query_id=AAHdF6IQAAAAAN0XohDhrOrc"
  + "&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C"
  + "%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%7D"
  + "&auth_date=1662771648&hash=c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2"
const vectorEd25519 = "user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%20%2B%20-%20%3F%20%5C%2F%22"
  + "%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C"
  + "%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%2C%22photo_url%22%3A%22https%3A%5C%2F%5C%2Ft.me"
  + "%5C%2Fi%5C%2Fuserpic%5C%2F320%5C%2F4FPEE4tmP3ATHa57u6MqTDih13LTOiMoKoLDRG4PnSA.svg%22%7D"
  + "&chat_instance=8134722200314281151&chat_type=private&auth_date=1733584787"
  + "&signature=zL-ucjNyREiHDE8aihFwpfR9aggP2xiAo3NSpfe-p7IbCisNlDKlo7Kb6G4D0Ao2mBrSgEk4maLSdv6MLIlADQ"
  + "&hash=2174df5b000556d044f3f020384e879c8efcab55ddea2ced4eb752e93e7080d6"

const token = "7000000001:test-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
const key = secretKeyOf(token)
const production: CheckOptions = { maxAgeS: 600, publicKey: telegramPublicKey("production") }
const now = 1_760_000_000
const player = { id: 4242, first_name: "Player", language_code: "it" }

const codeOf = (result: InitData | AuthError) => result instanceof AuthError ? result.code : "ok"
const verified = (result: InitData | AuthError): InitData => {
  if (result instanceof AuthError) throw new Error(`refused: ${result.code} ${result.message}`)
  return result
}

describe("InitDataVerifier", () => {
  it("verifies the published HMAC vector with the key derived from its bot token", () => {
    assert.strictEqual(secretKeyOf(vectorToken).toString("hex"), vectorSecret)
    const data = verified(checkInitData(vectorHmac, { key: secretKeyOf(vectorToken) }, 1662771648 + 60, production))
    assert.strictEqual(data.user?.id, 279058397)
    assert.strictEqual(data.user?.username, "vdkfrost")
    assert.strictEqual(data.queryId, "AAHdF6IQAAAAAN0XohDhrOrc")
    assert.strictEqual(codeOf(checkInitData(vectorHmac, { key }, 1662771648 + 60, production)), "invalid_signature")
  })

  it("verifies the published Ed25519 vector with the bot id alone, and only with the production key", () => {
    const data = verified(checkInitData(vectorEd25519, { botId: 7342037359 }, 1733584787 + 60, production))
    assert.strictEqual(data.user?.first_name, "Vladislav + - ? /")
    assert.strictEqual(data.chatType, "private")
    assert.strictEqual(data.chatInstance, "8134722200314281151")
    assert.strictEqual(codeOf(checkInitData(vectorEd25519, { botId: 7342037358 }, 1733584787, production)), "invalid_signature")
    const testEnv = { ...production, publicKey: telegramPublicKey("test") }
    assert.strictEqual(codeOf(checkInitData(vectorEd25519, { botId: 7342037359 }, 1733584787, testEnv)), "invalid_signature")
    const unsigned = vectorEd25519.replace(/&signature=[^&]*/, "")
    assert.strictEqual(codeOf(checkInitData(unsigned, { botId: 7342037359 }, 1733584787, production)), "missing_signature")
    assert.strictEqual(botIdOf(token), 7000000001)
  })

  it("accepts fresh data of this bot and decodes its fields", () => {
    const raw = initDataFor(player, token, now - 5, {
      start_param: "cmp_summer-24",
      chat_type: "sender",
      chat_instance: "-7093384427163340427",
      receiver: JSON.stringify({ id: 99, first_name: "Friend" })
    })
    const data = verified(checkInitData(raw, { key }, now, production))
    assert.deepStrictEqual(data.user, player)
    assert.strictEqual(data.receiver?.id, 99)
    assert.strictEqual(data.startParam, "cmp_summer-24")
    assert.strictEqual(data.authDate, now - 5)
  })

  it("refuses tampering, another bot's hash, staleness, the future, repeats and truncation, each with its code", () => {
    const raw = initDataFor(player, token, now - 5)
    const fields = new URLSearchParams(raw)
    const cases: ReadonlyArray<[string, string, string]> = [
      ["user changed", raw.replace("4242", "4243"), "invalid_signature"],
      ["auth_date changed", raw.replace(`auth_date=${now - 5}`, `auth_date=${now - 4}`), "invalid_signature"],
      ["query_id changed", raw.replace("AAHdF6IQ", "AAHdF6IR"), "invalid_signature"],
      ["field added", `${raw}&start_param=x`, "invalid_signature"],
      ["field removed", raw.replace(/query_id=[^&]*&/, ""), "invalid_signature"],
      ["hash missing", raw.replace(/&hash=.*$/, ""), "missing_hash"],
      ["hash empty", raw.replace(/hash=.*$/, "hash="), "invalid_signature"],
      ["hash of another bot", initDataFor(player, "7000000002:other-token-bbbbbbbbbbbbbbbbbbbbbbbbbb", now - 5), "invalid_signature"],
      ["hash upper-case", raw.replace(/hash=(.*)$/, (_, h: string) => `hash=${h.toUpperCase()}`), "invalid_signature"],
      ["expired", initDataFor(player, token, now - 601), "expired"],
      ["from the future", initDataFor(player, token, now + 120), "from_future"],
      ["duplicated key", `user=${encodeURIComponent(JSON.stringify(player))}&${raw}`, "duplicate_key"],
      ["duplicated hash", `${raw}&hash=${fields.get("hash")}`, "duplicate_key"],
      ["truncated inside the hash", raw.slice(0, -10), "invalid_signature"],
      ["truncated before the hash", raw.slice(0, raw.indexOf("&hash")), "missing_hash"],
      ["truncated to a bare key", raw.slice(0, raw.indexOf("=")), "malformed"],
      ["bad escape", raw.replace("%7B", "%7"), "malformed"],
      ["empty", "", "malformed"],
      ["too long", `${raw}&x=${"a".repeat(9000)}`, "malformed"]
    ]
    for (const [name, input, code] of cases) assert.strictEqual(codeOf(checkInitData(input, { key }, now, production)), code, name)
  })

  it("refuses signed data whose fields are not what Telegram sends", () => {
    const signed = (extra: Record<string, string>) =>
      checkInitData(signInitData({ auth_date: String(now), ...extra }, token), { key }, now, production)
    assert.strictEqual(codeOf(signed({ user: "{not json" })), "malformed")
    assert.strictEqual(codeOf(signed({ user: JSON.stringify({ id: "1", first_name: "A" }) })), "malformed")
    assert.strictEqual(codeOf(signed({ chat: JSON.stringify({ id: 1 }) })), "malformed")
    assert.strictEqual(codeOf(signed({ start_param: "has space" })), "malformed")
    assert.strictEqual(codeOf(checkInitData(signInitData({ auth_date: "soon" }, token), { key }, now, production)), "malformed")
    assert.strictEqual(codeOf(signed({})), "ok")
  })

  it("never crashes and never accepts what was not signed, over thousands of random and mutated strings", () => {
    const original = initDataFor(player, token, now - 5, { start_param: "abc" })
    const originalCheck = dataCheckString(new Map(new URLSearchParams(original)), ["hash"])
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789%&=+_-.{}\":,\\ \u00e9\u0000"
    let random = 12345
    const next = (n: number) => (random = (random * 1103515245 + 12345) % 2147483648) % n
    let accepted = 0
    for (let i = 0; i < 5000; i++) {
      let input: string
      if (i % 2 === 0) {
        input = Array.from({ length: next(300) }, () => alphabet[next(alphabet.length)]).join("")
      } else {
        const chars = [...original]
        for (let m = 0, n = 1 + next(4); m < n; m++) {
          const at = next(chars.length)
          const op = next(3)
          if (op === 0) chars.splice(at, 1)
          else if (op === 1) chars.splice(at, 0, alphabet[next(alphabet.length)]!)
          else chars[at] = alphabet[next(alphabet.length)]!
        }
        input = chars.join("")
      }
      const result = checkInitData(input, { key }, now, production)
      if (result instanceof AuthError) continue
      // Only a different spelling of the same signed fields may pass (for example `%7b` for `%7B`).
      accepted++
      assert.strictEqual(dataCheckString(new Map(new URLSearchParams(input)), ["hash"]), originalCheck, input)
    }
    assert.isBelow(accepted, 50)
  })

  it.live("as a service: checks with BOT_TOKEN and the clock, counts every result", () =>
    Effect.gen(function*() {
      const verifier = yield* InitDataVerifier
      const fresh = initDataFor(player, token, Math.floor(Date.now() / 1000) - 1)
      assert.strictEqual((yield* verifier.verify(fresh)).user?.id, 4242)
      const refused = yield* verifier.verify(initDataFor(player, token, 1_000_000)).pipe(Effect.flip)
      assert.strictEqual(refused.code, "expired")
      const thirdParty = yield* verifier.verifySignature(fresh).pipe(Effect.flip)
      assert.strictEqual(thirdParty.code, "missing_signature")
    }).pipe(
      Effect.provide(InitDataVerifier.layer.pipe(
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { BOT_TOKEN: token } })))
      ))
    ))
})
