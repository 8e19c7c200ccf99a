/**
 * The bot: one Composer per feature, in the order they claim updates. A flow in progress (promo, ticket) sees each
 * message first and lets commands and menu buttons through.
 */
import { Composer } from "./Composer.ts"
import type { BotContext } from "./BotContext.ts"
import { fallback } from "./features/Fallback.ts"
import { help } from "./features/Help.ts"
import { link } from "./features/Link.ts"
import { menu } from "./features/Menu.ts"
import { money } from "./features/Money.ts"
import { promo } from "./features/Promo.ts"
import { settings } from "./features/Settings.ts"
import { tournaments } from "./features/Tournaments.ts"
import { webAppData } from "./features/WebAppData.ts"
import { start } from "./features/Start.ts"
import { support } from "./features/Support.ts"

export const bot = new Composer<BotContext>(promo, support, start, link, settings, tournaments, webAppData, help, menu,
  money, fallback)
