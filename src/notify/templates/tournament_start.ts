/** A tournament the player may join has started. Needs the `tournaments` consent. */
import { Schema } from "effect"
import { defineTemplate, html, HttpsUrl, Id, Instant, Title, when } from "../Template.ts"

export const template = defineTemplate({
  name: "tournament_start",
  consent: "tournaments",
  vars: Schema.Struct({
    tournament_id: Id,
    tournament_name: Title,
    ends_at: Schema.optional(Instant),
    rules_url: Schema.optional(HttpsUrl)
  }),
  texts: {
    en: (v) => ({
      text: html`🏁 <b>${v.tournament_name}</b> has started!` +
        (v.ends_at === undefined ? "" : html`\nIt runs until ${when(v.ends_at, "en")}.`),
      buttons: [[{ text: "Join", app: `#/tournament/${encodeURIComponent(v.tournament_id)}` }, { text: "Rules", url: v.rules_url }]]
    }),
    it: (v) => ({
      text: html`🏁 <b>${v.tournament_name}</b> è iniziato!` +
        (v.ends_at === undefined ? "" : html`\nSi gioca fino al ${when(v.ends_at, "it")}.`),
      buttons: [[{ text: "Partecipa", app: `#/tournament/${encodeURIComponent(v.tournament_id)}` }, { text: "Regolamento", url: v.rules_url }]]
    })
  },
  example: { tournament_id: "t-weekly-race", tournament_name: "Weekly Slot Race", ends_at: "2026-12-06T20:00:00Z", rules_url: "https://casino.example.com/rules/weekly-race" }
})
