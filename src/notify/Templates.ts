/**
 * Every notification template (`templates/*.ts`, one file each, named like the template), and the one way to
 * turn a template name and the platform's `vars` into Telegram messages.
 *
 * `prepare` validates once, before anything is queued: the name must be known and the variables must decode
 * with the template's Schema (unknown variables are refused, so a typo is not silently dropped). Both
 * languages are rendered at that moment, so a message too long for Telegram is refused here too. A prepared
 * notification then gives the `sendMessage` parameters for any chat and language.
 */
import { Context, Effect, Layer, Schema } from "effect"
import type { InlineKeyboardButton, InlineKeyboardMarkup } from "grammy/types"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import * as Env from "../config.ts"
import type { ConsentType } from "../../services/Identity.ts"
import type { Button, Content, Language, Links, Template } from "./Template.ts"

export const languages: ReadonlyArray<Language> = ["en", "it"]

/** Why a notification cannot be made: the contract's error codes. */
export class TemplateError extends Schema.TaggedError<TemplateError>()("TemplateError", {
  code: Schema.Literals(["unknown_template", "invalid_vars"]),
  message: Schema.String
}) {}

/** A template with validated variables: the message for any chat, in its language. */
export type Prepared = {
  readonly template: string
  readonly consent: ConsentType | undefined
  /** `sendMessage` parameters. `web_app` buttons only go to private chats (Telegram refuses them elsewhere). */
  readonly message: (chatId: number, language: Language) => Readonly<Record<string, unknown>>
}

export class Templates extends Context.Service<Templates, {
  readonly names: ReadonlyArray<string>
  readonly prepare: (template: string, vars: unknown) => Effect.Effect<Prepared, TemplateError>
}>()("tg-gateway/src/notify/Templates") {
  /** The templates given, with these links. */
  static readonly make = (list: ReadonlyArray<Template<any>>, links: Links): Templates["Service"] => {
    const byName = new Map(list.map((t) => [t.name, t]))
    const prepare = (name: string, vars: unknown) =>
      Effect.suspend(() => {
        const template = byName.get(name)
        if (template === undefined) {
          return Effect.fail(new TemplateError({ code: "unknown_template", message: `unknown template: ${clipText(name)}` }))
        }
        return Schema.decodeUnknownEffect(template.vars)(vars ?? {}, { onExcessProperty: "error" }).pipe(
          Effect.mapError((error) =>
            new TemplateError({ code: "invalid_vars", message: `invalid vars for ${name}: ${clipText(error.message)}` })
          ),
          Effect.flatMap((decoded) => {
            const contents = Object.fromEntries(
              languages.map((language) => [language, template.texts[language](decoded, links)])
            ) as Record<Language, Content>
            const tooLong = languages.find((language) => textLength(contents[language].text) > maxText)
            if (tooLong !== undefined) {
              return Effect.fail(new TemplateError({ code: "invalid_vars", message: `${name}: the message is too long` }))
            }
            return Effect.succeed<Prepared>({
              template: name,
              consent: template.consent,
              message: (chatId, language) => {
                const content = contents[language]
                const keyboard = markup(content.buttons ?? [], links, chatId > 0)
                return {
                  chat_id: chatId,
                  text: content.text,
                  parse_mode: "HTML",
                  link_preview_options: { is_disabled: true },
                  ...(keyboard === undefined ? {} : { reply_markup: keyboard })
                }
              }
            })
          })
        )
      })
    return { names: [...byName.keys()].sort(), prepare }
  }

  /** Every template in `templates/`, with the Mini App and cabinet links from the configuration. */
  static readonly layer = Layer.effect(Templates)(
    Effect.gen(function*() {
      const links: Links = { app: yield* Env.appUrl, cabinet: yield* Env.cabinetLink }
      return Templates.make(yield* loadAll, links)
    })
  )
}

const directory = Path.join(import.meta.dirname, "templates")

/** Imports every template file; a file whose `template` is missing or named otherwise stops start-up. */
export const loadAll = Effect.promise(async () => {
  const files = Fs.readdirSync(directory).filter((f) => /^[a-z0-9_]+\.ts$/.test(f)).sort()
  return Promise.all(files.map(async (file) => {
    const module = (await import(Url.pathToFileURL(Path.join(directory, file)).href)) as { template?: Template<any> }
    const name = file.slice(0, -3)
    if (module.template?.name !== name) {
      throw new Error(`src/notify/templates/${file} must export \`template\` named "${name}"`)
    }
    return module.template
  }))
})

/** Telegram's limit for a message's text after entity parsing. */
const maxText = 4096

/** The text's length as Telegram counts it: without tags, entities decoded, in UTF-16 code units. */
const textLength = (html: string): number =>
  html.replace(/<[^>]*>/g, "").replace(/&(amp|lt|gt|quot);/g, "x").length

const clipText = (text: string): string => (text.length > 300 ? `${text.slice(0, 300)}…` : text)

const markup = (
  rows: ReadonlyArray<ReadonlyArray<Button>>,
  links: Links,
  privateChat: boolean
): InlineKeyboardMarkup | undefined => {
  const keyboard = rows
    .map((row) => row.flatMap((button): Array<InlineKeyboardButton> => {
      if ("app" in button) {
        return privateChat && links.app !== undefined ? [{ text: button.text, web_app: { url: links.app + button.app } }] : []
      }
      return button.url?.startsWith("https://") ? [{ text: button.text, url: button.url }] : []
    }))
    .filter((row) => row.length > 0)
  return keyboard.length === 0 ? undefined : { inline_keyboard: keyboard }
}
