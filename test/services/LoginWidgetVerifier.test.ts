/**
 * Login Widget checks: data signed as Telegram's documentation specifies (key = SHA-256 of the bot token)
 * verifies, in its JSON and its redirect (all text) forms; tampering, another bot's hash, staleness, the future
 * and malformed fields are refused with their codes. The data-check string follows the examples of Telegram's
 * documentation (https://core.telegram.org/widgets/login#checking-authorization), and the one of a public
 * implementation (`auth_date=1512345678\nfirst_name=John 🕶\nid=12345678\nlast_name=Smith\n...`).
 */
import { assert, describe, it } from "@effect/vitest"
import { dataCheckString } from "../../services/InitDataVerifier.ts"
import { checkLoginWidget, widgetKeyOf } from "../../services/LoginWidgetVerifier.ts"
import { AuthError, type LoginWidgetData } from "../../src/domain/TelegramAuth.ts"
import { signLoginWidget } from "../support/TelegramSigning.ts"

const token = "7000000001:test-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
const key = widgetKeyOf(token)
const now = 1_760_000_000
const fields = {
  id: 12345678,
  first_name: "John 🕶",
  last_name: "Smith",
  username: "jsmith",
  photo_url: "https://t.me/i/userpic/320/jsmith.jpg",
  auth_date: now - 10
}
const codeOf = (result: LoginWidgetData | AuthError) => result instanceof AuthError ? result.code : "ok"

describe("LoginWidgetVerifier", () => {
  it("builds the data-check string of Telegram's examples", () => {
    const map = new Map(Object.entries({ ...fields, auth_date: 1512345678, hash: "x" }).map(([k, v]) => [k, String(v)]))
    assert.strictEqual(
      dataCheckString(map, ["hash"]),
      "auth_date=1512345678\nfirst_name=John 🕶\nid=12345678\nlast_name=Smith\nphoto_url=https://t.me/i/userpic/320/jsmith.jpg\nusername=jsmith"
    )
  })

  it("accepts signed data, as JSON numbers or as the redirect's text", () => {
    const signed = signLoginWidget(fields, token)
    const data = checkLoginWidget(signed, key, now, 600)
    assert.strictEqual(codeOf(data), "ok")
    assert.strictEqual((data as LoginWidgetData).id, 12345678)
    const asText = Object.fromEntries(Object.entries(signed).map(([k, v]) => [k, String(v)]))
    assert.strictEqual(codeOf(checkLoginWidget(asText, key, now, 600)), "ok")
    const minimal = signLoginWidget({ id: 5, first_name: "Ada", auth_date: now }, token)
    assert.strictEqual(codeOf(checkLoginWidget(minimal, key, now, 600)), "ok")
  })

  it("refuses tampering, another bot, staleness, the future and what the widget does not send", () => {
    const signed = signLoginWidget(fields, token)
    const { hash: _, ...unsigned } = signed
    const { photo_url: _photo, ...withoutPhoto } = signed
    const cases: ReadonlyArray<[string, unknown, string]> = [
      ["id changed", { ...signed, id: 12345679 }, "invalid_signature"],
      ["username changed", { ...signed, username: "admin" }, "invalid_signature"],
      ["field added", { ...signed, is_admin: true }, "invalid_signature"],
      ["field removed", withoutPhoto, "invalid_signature"],
      ["field set to undefined", { ...signed, photo_url: undefined }, "malformed"],
      ["hash missing", unsigned, "missing_hash"],
      ["hash not hex", { ...signed, hash: "z".repeat(64) }, "invalid_signature"],
      ["another bot", signLoginWidget(fields, "7000000002:other-token-bbbbbbbbbbbbbbbbbbbbbbbbbb"), "invalid_signature"],
      ["initData's key instead", { ...signed, hash: signed.hash.split("").reverse().join("") }, "invalid_signature"],
      ["expired", signLoginWidget({ ...fields, auth_date: now - 601 }, token), "expired"],
      ["from the future", signLoginWidget({ ...fields, auth_date: now + 120 }, token), "from_future"],
      ["signed but no first_name", signLoginWidget({ id: 1, auth_date: now }, token), "malformed"],
      ["signed but id not a number", signLoginWidget({ id: "x1", first_name: "A", auth_date: now }, token), "malformed"],
      ["nested value", { ...signed, photo_url: { url: "x" } }, "malformed"],
      ["not an object", "id=1&hash=x", "malformed"],
      ["an array", [signed], "malformed"],
      ["null", null, "malformed"]
    ]
    for (const [name, input, code] of cases) assert.strictEqual(codeOf(checkLoginWidget(input, key, now, 600)), code, name)
  })
})
