/** The player's final place in a finished tournament. Needs the `tournaments` consent. */
import { Schema } from "effect"
import { defineTemplate, html, Id, Title } from "../Template.ts"

export const template = defineTemplate({
  name: "tournament_result",
  consent: "tournaments",
  vars: Schema.Struct({
    tournament_id: Id,
    tournament_name: Title,
    rank: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000_000 }))
  }),
  texts: {
    en: (v) => ({
      text: html`🏆 <b>${v.tournament_name}</b> is over: you finished #${v.rank}.`,
      buttons: [[{ text: "Leaderboard", app: `#/tournament/${encodeURIComponent(v.tournament_id)}` }]]
    }),
    it: (v) => ({
      text: html`🏆 <b>${v.tournament_name}</b> è finito: sei arrivato ${v.rank}º.`,
      buttons: [[{ text: "Classifica", app: `#/tournament/${encodeURIComponent(v.tournament_id)}` }]]
    })
  },
  example: { tournament_id: "t-weekly-race", tournament_name: "Weekly Slot Race", rank: 3 }
})
