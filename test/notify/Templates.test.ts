/**
 * Notification templates: every file in `src/notify/templates/` is a template named like the file, with English
 * and Italian texts; variables are decoded with the template's Schema (missing, wrong and unknown ones refused);
 * every variable is HTML-escaped; buttons lead only where links are configured (`web_app` only in private
 * chats); a message over Telegram's 4,096 characters is refused before anything is sent.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { defineTemplate, escapeHtml, html } from "../../src/notify/Template.ts"
import { loadAll, TemplateError, Templates } from "../../src/notify/Templates.ts"

const links = { app: "https://casino.example.com/app/", cabinet: "https://casino.example.com/cabinet" }

const keyboard = (params: Readonly<Record<string, unknown>>) =>
  ((params["reply_markup"] as { inline_keyboard: Array<Array<{ text: string; url?: string; web_app?: { url: string } }>> } | undefined)
    ?.inline_keyboard ?? []).map((row) => row.map((b) => [b.text, b.web_app?.url ?? b.url]))

describe("notification templates", () => {
  it.effect("every file in templates/ is one template named like the file, including the contract's types", () =>
    Effect.gen(function*() {
      const all = yield* loadAll
      const files = Fs.readdirSync(Path.join(import.meta.dirname, "../../src/notify/templates")).map((f) => f.replace(/\.ts$/, ""))
      assert.deepStrictEqual(all.map((t) => t.name).sort(), files.sort())
      for (const name of ["tournament_start", "tournament_reminder", "bonus_granted", "payout_completed", "mission_progress", "kyc_status_changed"]) {
        assert.include(files, name)
      }
      assert.isUndefined(all.find((t) => t.name === "kyc_status_changed")!.consent, "KYC news is transactional")
      assert.strictEqual(all.find((t) => t.name === "bonus_granted")!.consent, "promotions")
    }))

  it.effect("every template renders its example in both languages as valid Telegram HTML with https buttons", () =>
    Effect.gen(function*() {
      const all = yield* loadAll
      const templates = Templates.make(all, links)
      for (const template of all) {
        const prepared = yield* templates.prepare(template.name, template.example)
        const texts = new Set<string>()
        for (const language of ["en", "it"] as const) {
          const message = prepared.message(42, language)
          const text = String(message["text"])
          texts.add(text)
          assert.isAbove(text.length, 10, `${template.name}/${language}`)
          // Telegram's HTML: only its tags, balanced, and every & starting an entity.
          const tags = [...text.matchAll(/<(\/?)([a-z-]+)[^>]*>/g)]
          const open: Array<string> = []
          for (const [, closing, tag] of tags) {
            assert.include(["b", "i", "u", "s", "code", "pre", "a", "tg-spoiler", "blockquote"], tag, `${template.name}: <${tag}>`)
            if (closing === "") open.push(tag!)
            else assert.strictEqual(open.pop(), tag, `${template.name}/${language}: balanced tags`)
          }
          assert.lengthOf(open, 0, `${template.name}/${language}: every tag closed`)
          assert.notMatch(text.replace(/&(amp|lt|gt|quot);/g, ""), /&/, `${template.name}/${language}: raw &`)
          for (const row of keyboard(message)) {
            for (const [label, url] of row) {
              assert.isAtMost(label!.length, 64, `${template.name}: button text`)
              assert.match(url!, /^https:\/\//, `${template.name}: button ${label}`)
            }
          }
        }
        assert.strictEqual(texts.size, 2, `${template.name}: English and Italian differ`)
      }
    }))

  it.effect("renders English and Italian with escaped variables and the template's buttons", () =>
    Effect.gen(function*() {
      const templates = Templates.make(yield* loadAll, links)
      const prepared = yield* templates.prepare("tournament_reminder", {
        tournament_id: "t-7",
        tournament_name: "<b>Fake</b> & \"Co\"",
        starts_at: "2026-12-01T20:00:00Z",
        rules_url: "https://casino.example.com/rules/7"
      })
      const en = prepared.message(42, "en")
      assert.strictEqual(en["text"], "⏰ <b>&lt;b&gt;Fake&lt;/b&gt; &amp; &quot;Co&quot;</b> starts at 1 Dec, 20:00 UTC.")
      assert.strictEqual(en["parse_mode"], "HTML")
      assert.deepStrictEqual(keyboard(en), [[["Join", `${links.app}#/tournament/t-7`], ["Rules", "https://casino.example.com/rules/7"]]])
      const it = prepared.message(42, "it")
      assert.match(String(it["text"]), /inizia alle 1 dic, 20:00 UTC\.$/)
      assert.deepStrictEqual(keyboard(it)[0]!.map(([text]) => text), ["Partecipa", "Regolamento"])
      const odd = yield* templates.prepare("tournament_start", { tournament_id: "cup/2026#1?x", tournament_name: "Cup" })
      assert.deepStrictEqual(keyboard(odd.message(42, "en"))[0]![0], ["Join", `${links.app}#/tournament/cup%2F2026%231%3Fx`])
      // A group cannot show web_app buttons: only the URL button stays.
      assert.deepStrictEqual(keyboard(prepared.message(-100123, "en")), [[["Rules", "https://casino.example.com/rules/7"]]])
    }))

  it.effect("leaves out buttons whose link is not configured", () =>
    Effect.gen(function*() {
      const templates = Templates.make(yield* loadAll, { app: undefined, cabinet: undefined })
      const prepared = yield* templates.prepare("payout_completed", {})
      assert.isUndefined(prepared.message(42, "en")["reply_markup"])
      assert.notMatch(String(prepared.message(42, "en")["text"]), /\d/, "no amount in the chat")
    }))

  it.effect("refuses unknown templates and missing, wrong or unknown variables", () =>
    Effect.gen(function*() {
      const templates = Templates.make(yield* loadAll, links)
      const refusal = (name: string, vars: unknown) => Effect.flip(templates.prepare(name, vars))
      const unknown = yield* refusal("no_such", {})
      assert.instanceOf(unknown, TemplateError)
      assert.strictEqual(unknown.code, "unknown_template")
      for (const vars of [
        { tournament_id: "t-1" },
        { tournament_id: "t-1", tournament_name: "A", starts_at: "tomorrow" },
        { tournament_id: "t 1", tournament_name: "A", starts_at: "2026-12-01T20:00:00Z" },
        { tournament_id: "t".repeat(129), tournament_name: "A", starts_at: "2026-12-01T20:00:00Z" },
        { tournament_id: "t-1", tournament_name: "A", starts_at: "2026-12-01T20:00:00Z", rules_url: "http://plain.example.com" },
        { tournament_id: "t-1", tournament_name: "A", starts_at: "2026-02-31T20:00:00Z" },
        { tournament_id: "t-1", tournament_name: "A", starts_at: "2026-12-01T25:00:00Z" },
        { tournament_id: "t-1", tournament_name: "A", starts_at: "2026-12-01T20:00:00Z", rules_url: "https://bad host.example.com" },
        { tournament_id: "t-1", tournament_name: "A", starts_at: "2026-12-01T20:00:00Z", rules_url: "https://localhost/x" },
        { tournament_id: "t-1", tournament_name: "A", starts_at: "2026-12-01T20:00:00Z", email: "a@b.c" },
        "not an object"
      ]) {
        const error = yield* refusal("tournament_reminder", vars)
        assert.strictEqual(error.code, "invalid_vars", JSON.stringify(vars))
      }
    }))

  it.effect("refuses a message longer than Telegram allows, counting text without tags", () =>
    Effect.gen(function*() {
      const long = defineTemplate({
        name: "long",
        consent: undefined,
        vars: Schema.Struct({ text: Schema.String }),
        texts: { en: (v) => ({ text: html`<b>${v.text}</b>` }), it: (v) => ({ text: html`<i>${v.text}</i>` }) },
        example: { text: "x" }
      })
      const templates = Templates.make([long], links)
      yield* templates.prepare("long", { text: "x".repeat(4096) })
      yield* templates.prepare("long", { text: "&".repeat(4096) })
      const error = yield* Effect.flip(templates.prepare("long", { text: "x".repeat(4097) }))
      assert.strictEqual(error.code, "invalid_vars")
      assert.strictEqual(escapeHtml("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;")
    }))
})
