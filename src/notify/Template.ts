/**
 * A notification template: its name, the consent it needs (`undefined`: transactional, always sent to a linked
 * and reachable player), its variables as a Schema (decoded from the event's `vars`, unknown fields refused),
 * and its text in English and Italian with the buttons under it.
 *
 * Texts are Telegram HTML (`parse_mode: "HTML"`): every variable goes through `escapeHtml` (`html` below does
 * it for each interpolated value), so a tournament called `<b>` or `A & B` arrives as written. Variables never
 * carry personal data: names of tournaments and bonuses, amounts with their currency, statuses, ids.
 *
 * Adding a template is one file in `templates/` exporting `template = defineTemplate({...})`; `Templates`
 * finds it by its file name, which must be the template's name. Its `example` variables are rendered in both
 * languages by the tests.
 */
import { Schema } from "effect"
import type { ConsentType } from "../../services/Identity.ts"
import { Id as PlatformId } from "../../services/platform/Model.ts"
import type { Language } from "../bot/texts/index.ts"

export type { Language }

/** Where buttons may lead: the Mini App (https, `web_app` buttons) and the operator's cabinet (https). */
export type Links = {
  readonly app: string | undefined
  readonly cabinet: string | undefined
}

/**
 * A button under the message. `app` opens a path of the Mini App (`#/tournament/42`) as a `web_app` button;
 * `url` any https page. A button whose link is not configured (no `PUBLIC_URL`, no `CABINET_URL`) is left out.
 */
export type Button =
  | { readonly text: string; readonly app: string }
  | { readonly text: string; readonly url: string | undefined }

export type Content = {
  readonly text: string
  readonly buttons?: ReadonlyArray<ReadonlyArray<Button>>
}

export type Template<Vars = unknown> = {
  readonly name: string
  readonly consent: ConsentType | undefined
  readonly vars: Schema.Codec<Vars, unknown>
  readonly texts: { readonly [L in Language]: (vars: Vars, links: Links) => Content }
  /** Variables as the platform sends them, for the docs and for the test that renders every template. */
  readonly example: Readonly<Record<string, unknown>>
}

/** Declares a template; `vars` is the Schema of its variables (a `Schema.Struct`). */
export const defineTemplate = <S extends Schema.Codec<any, unknown>>(template: {
  readonly name: string
  readonly consent: ConsentType | undefined
  readonly vars: S
  readonly texts: { readonly [L in Language]: (vars: S["Type"], links: Links) => Content }
  readonly example: S["Encoded"] & Readonly<Record<string, unknown>>
}): Template<S["Type"]> => template as Template<S["Type"]>

/** `&`, `<`, `>` and `"` as Telegram's HTML parse mode needs them. */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;"))

/** A tagged template literal for HTML texts: every interpolated value is escaped. */
export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<string | number>): string =>
  strings.reduce((out, part, i) => out + part + (i < values.length ? escapeHtml(String(values[i])) : ""), "")

// Variables shared by many templates. Limits keep a message far inside Telegram's 4,096 characters.

/** A name shown to the player (a tournament, a bonus, a mission): 1-100 characters, one line. */
export const Title = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(100), Schema.isPattern(/^[^\n\r]*$/))
/** A platform id (a tournament, a mission): as the platform API defines it; templates encode it in Mini App paths. */
export const Id = PlatformId
/** An amount as a decimal string (no float rounding), e.g. `"25.00"`. */
export const Amount = Schema.String.check(Schema.isPattern(/^\d{1,12}(\.\d{1,8})?$/))
/** An ISO 4217 currency code or a short token symbol, e.g. `EUR`, `USDT`. */
export const Currency = Schema.String.check(Schema.isPattern(/^[A-Z0-9]{2,10}$/))
/** An instant as ISO 8601 with its offset, e.g. `2026-12-01T20:00:00Z`. */
export const Instant = Schema.String.check(
  Schema.isPattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/),
  Schema.makeFilter((s: string) => isCalendarDate(s) || "a valid date and time")
)
/** An https page (rules, terms): a URL with a host, no spaces or control characters, as Telegram accepts it. */
export const HttpsUrl = Schema.String.check(
  Schema.isPattern(/^https:\/\/[^\s\x00-\x1f\x7f<>"]{1,2000}$/),
  Schema.makeFilter((s: string) => URL.canParse(s) && new URL(s).hostname.includes(".") || "an https URL with a host")
)

/** `2026-02-31` is no date (though `Date` would read it as 3 March); the time is checked by the pattern. */
const isCalendarDate = (s: string): boolean => {
  const [year, month, day] = s.slice(0, 10).split("-").map(Number) as [number, number, number]
  const date = new Date(Date.UTC(year, month - 1, day))
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day &&
    !Number.isNaN(Date.parse(s))
}

/** An amount with its currency, written the way the language writes numbers (`25.00 EUR`, `25,00 EUR`). */
export const money = (amount: string, currency: string, language: Language): string =>
  `${language === "it" ? amount.replace(".", ",") : amount} ${currency}`

/** A date and time in UTC, e.g. `1 Dec, 20:00 UTC` / `1 dic, 20:00 UTC`. */
export const when = (instant: string, language: Language): string =>
  new Intl.DateTimeFormat(language === "it" ? "it-IT" : "en-GB", {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: "UTC", timeZoneName: "short"
  }).format(new Date(instant))
