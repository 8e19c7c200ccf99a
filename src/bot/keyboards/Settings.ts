/** The settings message's inline keyboard: one toggle per notification type, the language, unlinking. */
import { InlineKeyboard } from "grammy"
import { type Consents, consentTypes } from "../../../services/Identity.ts"
import * as CallbackData from "../CallbackData.ts"
import type { Texts } from "../texts/index.ts"

export const settings = (t: Texts, consents: Consents, linked: boolean) => {
  const keyboard = new InlineKeyboard()
  for (const type of consentTypes) {
    keyboard.text(`${consents[type] ? "🔔" : "🔕"} ${t.consent[type]}: ${consents[type] ? t.on : t.off}`,
      CallbackData.encode("settings", `toggle_${type}`)).row()
  }
  keyboard.text(t.languageButton, CallbackData.encode("settings", "language")).row()
  if (linked) keyboard.text(t.unlink, CallbackData.encode("settings", "unlink"))
  return keyboard
}

export const unlinkConfirm = (t: Texts) =>
  new InlineKeyboard()
    .text(t.unlinkYes, CallbackData.encode("settings", "unlink_yes"))
    .text(t.unlinkNo, CallbackData.encode("settings", "unlink_no"))
