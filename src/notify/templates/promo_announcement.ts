/**
 * A promotion announced to players who accept promotions (the usual template of a mailing). The CRM writes the
 * title and body: one text for everyone, or `{"en": ..., "it": ...}` so each player reads it in their language.
 */
import { Schema } from "effect"
import { defineTemplate, html, HttpsUrl, Title } from "../Template.ts"

const Body = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(1000))
const localized = <S extends Schema.Codec<string, string>>(text: S) => Schema.Union([text, Schema.Struct({ en: text, it: text })])

export const template = defineTemplate({
  name: "promo_announcement",
  consent: "promotions",
  vars: Schema.Struct({ title: localized(Title), body: localized(Body), terms_url: Schema.optional(HttpsUrl) }),
  texts: {
    en: (v) => ({
      text: html`📣 <b>${typeof v.title === "string" ? v.title : v.title.en}</b>\n${typeof v.body === "string" ? v.body : v.body.en}`,
      buttons: [[{ text: "Open the app", app: "#/promotions" }, { text: "Terms", url: v.terms_url }]]
    }),
    it: (v) => ({
      text: html`📣 <b>${typeof v.title === "string" ? v.title : v.title.it}</b>\n${typeof v.body === "string" ? v.body : v.body.it}`,
      buttons: [[{ text: "Apri l'app", app: "#/promotions" }, { text: "Termini", url: v.terms_url }]]
    })
  },
  example: {
    title: { en: "Black Friday", it: "Black Friday" },
    body: { en: "Double points on every slot all weekend.", it: "Punti doppi su tutte le slot per tutto il weekend." },
    terms_url: "https://casino.example.com/terms/bf"
  }
})
