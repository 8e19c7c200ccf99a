/** A bonus was credited to the player's account. Needs the `promotions` consent. */
import { Schema } from "effect"
import { Amount, Currency, defineTemplate, html, Instant, money, Title, when } from "../Template.ts"

export const template = defineTemplate({
  name: "bonus_granted",
  consent: "promotions",
  vars: Schema.Struct({
    bonus_name: Title,
    amount: Schema.optional(Amount),
    currency: Schema.optional(Currency),
    expires_at: Schema.optional(Instant)
  }),
  texts: {
    en: (v) => ({
      text: html`🎁 Bonus <b>${v.bonus_name}</b> is in your account` +
        (v.amount !== undefined && v.currency !== undefined ? html`: ${money(v.amount, v.currency, "en")}` : "") + "." +
        (v.expires_at === undefined ? "" : html`\nUse it before ${when(v.expires_at, "en")}.`),
      buttons: [[{ text: "My bonuses", app: "#/bonuses" }]]
    }),
    it: (v) => ({
      text: html`🎁 Il bonus <b>${v.bonus_name}</b> è nel tuo conto` +
        (v.amount !== undefined && v.currency !== undefined ? html`: ${money(v.amount, v.currency, "it")}` : "") + "." +
        (v.expires_at === undefined ? "" : html`\nUsalo entro il ${when(v.expires_at, "it")}.`),
      buttons: [[{ text: "I miei bonus", app: "#/bonuses" }]]
    })
  },
  example: { bonus_name: "Welcome spins", amount: "25.00", currency: "EUR", expires_at: "2026-12-31T23:59:00Z" }
})
