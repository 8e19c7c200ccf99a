/**
 * initData verification: verifications/s of our verifier (`checkInitData`, the HMAC check with the key derived
 * once, signature before anything is believed, Schema-decoded fields) beside `@telegram-apps/init-data-node`'s
 * `validate` on the same inputs in the same run: as its documentation shows it (with the bot token), and with
 * the token hashed ahead (its faster variant). Each side also parses the fields (its `parse`), since a verifier
 * is used to read the user.
 */
import { parse, validate } from "@telegram-apps/init-data-node"
import * as Crypto from "node:crypto"
import { checkInitData, secretKeyOf, telegramPublicKey } from "../services/InitDataVerifier.ts"
import { AuthError } from "../src/domain/TelegramAuth.ts"
import { initDataFor } from "../test/support/TelegramSigning.ts"

const token = "7000000001:bench-token-aaaaaaaaaaaaaaaaaaaaaaaaa"

/** Runs `f` over the inputs round-robin for `ms`, after a warm-up; returns calls/s. */
const measure = (inputs: ReadonlyArray<string>, ms: number, f: (raw: string) => void): number => {
  for (let i = 0; i < 20_000; i++) f(inputs[i % inputs.length]!)
  let calls = 0
  const started = performance.now()
  let elapsed = 0
  while (elapsed < ms) {
    for (let i = 0; i < 1000; i++) f(inputs[(calls + i) % inputs.length]!)
    calls += 1000
    elapsed = performance.now() - started
  }
  return calls / (elapsed / 1000)
}

export const run = async ({ quick }: { readonly quick: boolean }) => {
  const nowS = Math.floor(Date.now() / 1000)
  const inputs = Array.from({ length: 1000 }, (_, i) =>
    initDataFor({ id: 100_000 + i, first_name: `Player ${i}`, language_code: i % 2 ? "it" : "en" }, token, nowS - 5, {
      chat_type: "private",
      chat_instance: String(8134722200314281151n + BigInt(i)),
      start_param: `cmp_${i}`,
      // Telegram adds its Ed25519 signature to every initData; the HMAC covers it like any other field.
      signature: Crypto.randomBytes(64).toString("base64url")
    }))
  const key = secretKeyOf(token)
  const hashedToken = key.toString("hex")
  const options = { maxAgeS: 600, publicKey: telegramPublicKey("production") }
  const ms = quick ? 2000 : 5000
  const ours = () =>
    measure(inputs, ms, (raw) => {
      const result = checkInitData(raw, { key }, Date.now() / 1000, options)
      if (result instanceof AuthError) throw new Error(result.message)
    })
  const theirs = () =>
    measure(inputs, ms, (raw) => {
      validate(raw, token, { expiresIn: 600 })
      parse(raw)
    })
  const theirsHashed = () =>
    measure(inputs, ms, (raw) => {
      validate(raw, hashedToken, { expiresIn: 600, tokenHashed: true })
      parse(raw)
    })
  // Interleaved, twice, best of each: the machine's other load moves both sides alike.
  const rounds = quick ? 1 : 2
  let a = 0, b = 0, c = 0
  for (let r = 0; r < rounds; r++) {
    a = Math.max(a, ours())
    b = Math.max(b, theirs())
    c = Math.max(c, theirsHashed())
  }
  const round = (n: number, d = 0) => Number(n.toFixed(d))
  return {
    table: [
      ["verifier", "verifications/s", "vs validate(token)"],
      ["gateway checkInitData", round(a), round(a / b, 2)],
      ["@telegram-apps/init-data-node validate(token) + parse", round(b), 1],
      ["@telegram-apps/init-data-node validate(hashed token) + parse", round(c), round(c / b, 2)]
    ],
    figures: {
      ours_per_s: round(a),
      theirs_per_s: round(b),
      theirs_hashed_per_s: round(c),
      ratio: round(a / b, 2),
      ratio_vs_hashed: round(a / c, 2),
      inputs: inputs.length,
      seconds_per_side: ms / 1000 * rounds
    }
  }
}
