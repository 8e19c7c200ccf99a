/**
 * A tournament starts soon: what "Remind me 5 minutes before" sends (the player asked for it), and what the
 * platform may send to players with the `tournaments` consent.
 */
import { Schema } from "effect"
import { defineTemplate, html, HttpsUrl, Id, Instant, Title, when } from "../Template.ts"

export const template = defineTemplate({
  name: "tournament_reminder",
  consent: "tournaments",
  vars: Schema.Struct({
    tournament_id: Id,
    tournament_name: Title,
    starts_at: Instant,
    rules_url: Schema.optional(HttpsUrl)
  }),
  texts: {
    en: (v) => ({
      text: html`⏰ <b>${v.tournament_name}</b> starts at ${when(v.starts_at, "en")}.`,
      buttons: [[{ text: "Join", app: `#/tournament/${encodeURIComponent(v.tournament_id)}` }, { text: "Rules", url: v.rules_url }]]
    }),
    it: (v) => ({
      text: html`⏰ <b>${v.tournament_name}</b> inizia alle ${when(v.starts_at, "it")}.`,
      buttons: [[{ text: "Partecipa", app: `#/tournament/${encodeURIComponent(v.tournament_id)}` }, { text: "Regolamento", url: v.rules_url }]]
    })
  },
  example: { tournament_id: "t-weekly-race", tournament_name: "Weekly Slot Race", starts_at: "2026-12-01T20:00:00Z" }
})
