/**
 * A withdrawal was paid out. Needs the `payouts` consent (on by default). The message says so and nothing more:
 * amounts and payment details are the player's private data, shown only in the authenticated Mini App and the
 * cabinet (a chat message shows on a locked phone's screen).
 */
import { Schema } from "effect"
import { defineTemplate, Id } from "../Template.ts"

export const template = defineTemplate({
  name: "payout_completed",
  consent: "payouts",
  vars: Schema.Struct({ payout_id: Schema.optional(Id) }),
  texts: {
    en: (_, links) => ({
      text: "✅ Your withdrawal has been paid. The details are in your cabinet.",
      buttons: [[{ text: "Open your cabinet", url: links.cabinet }]]
    }),
    it: (_, links) => ({
      text: "✅ Il tuo prelievo è stato pagato. I dettagli sono nell'area personale.",
      buttons: [[{ text: "Apri l'area personale", url: links.cabinet }]]
    })
  },
  example: { payout_id: "po-1234" }
})
