/**
 * The settings message's inline keyboard: one toggle per notification type, the language, unlinking. Each button
 * names the state it sets (`toggle_promotions_on`, `lang_it`), so a press handled twice sets it twice, not back.
 */
import { InlineKeyboard } from "grammy"
import { type Consents, consentTypes } from "../../../services/Identity.ts"
import * as CallbackData from "../CallbackData.ts"
import type { Language, Texts } from "../texts/index.ts"

export const settings = (t: Texts, language: Language, consents: Consents, linked: boolean) => {
  const keyboard = new InlineKeyboard()
  for (const type of consentTypes) {
    keyboard.text(`${consents[type] ? "🔔" : "🔕"} ${t.consent[type]}: ${consents[type] ? t.on : t.off}`,
      CallbackData.encode("settings", `toggle_${type}_${consents[type] ? "off" : "on"}`)).row()
  }
  keyboard.text(t.languageButton, CallbackData.encode("settings", `lang_${language === "it" ? "en" : "it"}`)).row()
  if (linked) keyboard.text(t.unlink, CallbackData.encode("settings", "unlink"))
  return keyboard
}

export const unlinkConfirm = (t: Texts) =>
  new InlineKeyboard()
    .text(t.unlinkYes, CallbackData.encode("settings", "unlink_yes"))
    .text(t.unlinkNo, CallbackData.encode("settings", "unlink_no"))
