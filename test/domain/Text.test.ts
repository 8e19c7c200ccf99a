/** Clipping text for Telegram: within the limit in UTF-16 units, never inside an emoji, a flag or an accent. */
import { assert, describe, it } from "@effect/vitest"
import { clip } from "../../src/domain/Text.ts"

describe("clip", () => {
  it("keeps short texts and cuts long ones between graphemes, with an ellipsis", () => {
    assert.strictEqual(clip("Weekly Race", 20), "Weekly Race")
    assert.strictEqual(clip("abcdef", 4), "abc…")
    const flags = "🇮🇹🇮🇹🇮🇹"
    assert.strictEqual(clip(flags, 6), "🇮🇹…", "a flag is four units: never half of one")
    const family = "👨‍👩‍👧x"
    assert.strictEqual(clip(family + "yyyyyy", 9), "👨‍👩‍👧…")
    assert.strictEqual(clip("e\u0301e\u0301e\u0301", 4), "e\u0301…", "an accent stays with its letter")
    for (const text of [flags, family + "tail", "Ciao 👋 mondo 🌍!".repeat(10)]) {
      for (let max = 2; max < 40; max++) {
        const out = clip(text, max)
        assert.isAtMost(out.length, max)
        assert.notMatch(out, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/, `no lone surrogate at ${max}`)
      }
    }
  })
})
