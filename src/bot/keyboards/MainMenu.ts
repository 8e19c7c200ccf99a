/** The main menu as a reply keyboard, and the section keyboards as inline keyboards, built in one place. */
import { InlineKeyboard, Keyboard } from "grammy"
import * as CallbackData from "../CallbackData.ts"
import type { Texts } from "../texts/index.ts"

/**
 * The main menu. With `appUrl` (private chats only: Telegram refuses `web_app` buttons elsewhere) it also opens the
 * Mini App from the keyboard, the one place from which the app can send data back (`WebApp.sendData`).
 */
export const mainMenu = (t: Texts, appUrl?: string) => {
  const keyboard = new Keyboard()
    .text(t.menu.profile).text(t.menu.tournaments).row()
    .text(t.menu.bonuses).text(t.menu.support).row()
    .text(t.menu.settings)
  if (appUrl !== undefined) keyboard.webApp(t.openApp, appUrl)
  return keyboard.resized().persistent()
}

export const profile = (t: Texts, publicUrl: string | undefined, cabinetUrl: string | undefined) => {
  const keyboard = new InlineKeyboard()
  if (publicUrl !== undefined && publicUrl.startsWith("https://")) {
    keyboard.webApp(t.openApp, `${publicUrl.replace(/\/+$/, "")}/app/`).row()
  } else {
    keyboard.text(t.openApp, CallbackData.encode("profile", "open")).row()
  }
  if (cabinetUrl !== undefined) keyboard.url(t.openCabinet, cabinetUrl)
  return keyboard
}

/** The way to the cabinet, for anything about money (or a plain answer when no cabinet is configured). */
export const cabinet = (t: Texts, cabinetUrl: string | undefined) =>
  cabinetUrl === undefined ? undefined : new InlineKeyboard().url(t.openCabinet, cabinetUrl)

export const tournaments = (t: Texts) =>
  new InlineKeyboard()
    .text(t.tournamentsList, CallbackData.encode("tournaments", "list"))
    .text(t.missionsList, CallbackData.encode("tournaments", "missions"))

export const bonuses = (t: Texts) => new InlineKeyboard().text(t.enterPromo, CallbackData.encode("bonuses", "promo"))

export const support = (t: Texts) =>
  new InlineKeyboard()
    .text(t.faq, CallbackData.encode("support", "faq"))
    .text(t.openTicket, CallbackData.encode("support", "ticket")).row()
    .text(t.contact, CallbackData.encode("support", "contact"))
