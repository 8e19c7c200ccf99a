/** Picks the texts for a chat: the language saved in its session, else the user's Telegram `language_code`. */
import { en, type Texts } from "./en.ts"
import { it } from "./it.ts"

export type Language = "en" | "it"
export type { Texts }

export const texts: Readonly<Record<Language, Texts>> = { en, it }

export const languageOf = (saved: string | undefined, languageCode: string | undefined): Language =>
  saved === "en" || saved === "it" ? saved : languageCode?.toLowerCase().startsWith("it") ? "it" : "en"
