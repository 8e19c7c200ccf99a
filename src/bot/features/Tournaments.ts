/**
 * Tournaments & missions: the running and upcoming tournaments from the platform (title and time; Join opens
 * the tournament in the Mini App, Rules its rules page), and the player's own missions with their progress.
 * Nothing personal and no amounts of money in the messages.
 */
import { Composer, InlineKeyboard } from "grammy"
import type { Mission, Tournament } from "../../../services/Platform.ts"
import { answerQuery, clip } from "../Flow.ts"
import type { BotContext } from "../BotContext.ts"
import type { Language, Texts } from "../texts/index.ts"

export const tournaments = new Composer<BotContext>()


tournaments.chatType("private").callbackQuery("v1:tournaments:list", async (ctx) => {
  await answerQuery(ctx)
  const list = await ctx.deps.tournaments()
  if (list === "unavailable") return void await ctx.reply(ctx.t.platformUnavailable)
  if (list.length === 0) return void await ctx.reply(ctx.t.noTournaments)
  await ctx.reply(
    [ctx.t.tournamentsHeader, ...list.map((t) => `🏆 ${clip(t.title)}: ${when(t, ctx.t, ctx.language)}`)].join("\n"),
    { reply_markup: buttons(list, ctx.t, ctx.deps.appUrl) }
  )
})

tournaments.chatType("private").callbackQuery("v1:tournaments:missions", async (ctx) => {
  await answerQuery(ctx)
  const list = await ctx.deps.missions()
  if (list === "unavailable") return void await ctx.reply(ctx.t.platformUnavailable)
  if (list === "not_linked") return void await ctx.reply(ctx.t.missionsLinkFirst)
  if (list.length === 0) return void await ctx.reply(ctx.t.noMissions)
  await ctx.reply([ctx.t.missionsHeader, ...list.slice(0, maxMissions).map(missionLine)].join("\n"))
})

const when = (t: Tournament, texts: Texts, language: Language): string => {
  const format = new Intl.DateTimeFormat(language === "it" ? "it-IT" : "en-GB", {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: "UTC", timeZoneName: "short"
  })
  return t.status === "running"
    ? `${texts.tournamentRunning} ${format.format(new Date(t.endsAt))}`
    : `${texts.tournamentUpcoming} ${format.format(new Date(t.startsAt))}`
}

const missionLine = (m: Mission): string =>
  `🎯 ${clip(m.title)}: ${Math.min(m.progress, m.target)}/${m.target} (${clip(m.reward)})`

const maxMissions = 10

/** Join (the tournament in the Mini App, when there is one) and Rules (when the platform has a page). */
const buttons = (list: ReadonlyArray<Tournament>, texts: Texts, app: string | undefined) => {
  const keyboard = new InlineKeyboard()
  for (const t of list) {
    if (app !== undefined) keyboard.webApp(clip(`${texts.join}: ${t.title}`, 64), `${app}#/tournament/${encodeURIComponent(t.id)}`)
    if (t.rulesUrl?.startsWith("https://")) keyboard.url(texts.rules, t.rulesUrl)
    keyboard.row()
  }
  return keyboard
}
