/**
 * Tournaments & missions: the running and upcoming tournaments from the platform (title and time; Join opens
 * the tournament in the Mini App, Rules its rules page, "Remind me" sets a reminder 5 minutes before the start
 * while there is time for one), and the player's own missions with their progress. Nothing personal and no
 * amounts of money in the messages.
 */
import { Option } from "effect"
import { InlineKeyboard } from "grammy"
import { Composer } from "../Composer.ts"
import type { Mission, Tournament } from "../../../services/Platform.ts"
import { answerQuery, clip } from "../Flow.ts"
import type { BotContext, ListedTournament, ReminderAnswer } from "../BotContext.ts"
import * as CallbackData from "../CallbackData.ts"
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

/**
 * "Remind me" (`remind:<tournament>`) and the confirmation's "Cancel the reminder" (`unremind:<tournament>`). A
 * button whose argument does not decode (forged, or from another layout) gets the soft "no longer active".
 */
tournaments.chatType("private").callbackQuery(/^v1:tournaments:(remind|unremind):/, async (ctx) => {
  const data = CallbackData.parseWithId(ctx.callbackQuery.data)
  if (Option.isNone(data)) return void await answerQuery(ctx, ctx.t.staleButton)
  const arg = data.value.arg
  await answerQuery(ctx)
  if (data.value.action === "unremind") {
    const cancelled = await ctx.deps.cancelReminder(arg)
    return void await ctx.reply(cancelled ? ctx.t.reminderCancelled : ctx.t.reminderNotSet)
  }
  const answer = await ctx.deps.remind(arg)
  if (answer.result === "set" || answer.result === "already_set") {
    await ctx.reply(reminderText(answer, ctx.t), {
      reply_markup: new InlineKeyboard().text(
        ctx.t.cancelReminder,
        CallbackData.encodeWithId("tournaments", "unremind", answer.tournamentId)
      )
    })
    return
  }
  await ctx.reply(reminderText(answer, ctx.t))
})

const reminderText = (answer: ReminderAnswer, texts: Texts): string => {
  switch (answer.result) {
    // A replacer function: a title is inserted as it is, `$&` and the like included.
    case "set":
      return texts.reminderSet.replace("{title}", () => clip(answer.title))
    case "already_set":
      return texts.reminderAlreadySet.replace("{title}", () => clip(answer.title))
    case "too_late":
      return texts.reminderTooLate
    case "not_found":
      return texts.reminderUnknown
    case "limit_reached":
      return texts.reminderLimit
    case "unavailable":
      return texts.platformUnavailable
  }
}

const missionLine = (m: Mission): string =>
  `🎯 ${clip(m.title)}: ${Math.min(m.progress, m.target)}/${m.target} (${clip(m.reward)})`

const maxMissions = 10

/**
 * One row per tournament: Join (the tournament in the Mini App, when there is one), Rules (when the platform has
 * a page) and Remind me (while it starts more than 5 minutes from now; named after the tournament when no Join
 * button does it).
 */
const buttons = (list: ReadonlyArray<ListedTournament>, texts: Texts, app: string | undefined) => {
  const keyboard = new InlineKeyboard()
  for (const t of list) {
    if (app !== undefined) keyboard.webApp(clip(`${texts.join}: ${t.title}`, 64), `${app}#/tournament/${encodeURIComponent(t.id)}`)
    if (t.rulesUrl?.startsWith("https://")) keyboard.url(texts.rules, t.rulesUrl)
    if (t.remindable) {
      keyboard.text(
        app === undefined ? clip(`${texts.remindMe}: ${t.title}`, 64) : texts.remindMe,
        CallbackData.encodeWithId("tournaments", "remind", t.id)
      )
    }
    keyboard.row()
  }
  return keyboard
}
