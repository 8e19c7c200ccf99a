/** Progress on one of the player's missions (or its completion). Needs the `tournaments` consent. */
import { Schema } from "effect"
import { defineTemplate, html, Id, Title } from "../Template.ts"

const Count = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000_000 }))

export const template = defineTemplate({
  name: "mission_progress",
  consent: "tournaments",
  vars: Schema.Struct({ mission_id: Id, mission_name: Title, progress: Count, target: Count }),
  texts: {
    en: (v) => ({
      text: v.progress >= v.target
        ? html`🎯 Mission <b>${v.mission_name}</b> complete!`
        : html`🎯 Mission <b>${v.mission_name}</b>: ${v.progress}/${v.target}.`,
      buttons: [[{ text: "Open missions", app: `#/mission/${encodeURIComponent(v.mission_id)}` }]]
    }),
    it: (v) => ({
      text: v.progress >= v.target
        ? html`🎯 Missione <b>${v.mission_name}</b> completata!`
        : html`🎯 Missione <b>${v.mission_name}</b>: ${v.progress}/${v.target}.`,
      buttons: [[{ text: "Apri le missioni", app: `#/mission/${encodeURIComponent(v.mission_id)}` }]]
    })
  },
  example: { mission_id: "m-spin-50", mission_name: "Spin 50 times", progress: 32, target: 50 }
})
