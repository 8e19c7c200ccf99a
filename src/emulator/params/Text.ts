/**
 * Message text as Telegram measures it: the limits (4096 for text, 1024 for captions) count the
 * characters left after entity parsing, so markup is stripped first. HTML is parsed properly;
 * Markdown and MarkdownV2 lose their link targets, escapes and formatting characters, which is
 * close to Telegram without being a full parser.
 */

export const maxTextLength = 4096
export const maxCaptionLength = 1024

const htmlEntities: Readonly<Record<string, string>> = { lt: "<", gt: ">", amp: "&", quot: "\"" }

const stripHtml = (text: string) =>
  text
    .replace(/<[^>]*>/g, "")
    .replace(/&(lt|gt|amp|quot);/g, (_, name: string) => htmlEntities[name] ?? "")
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&#x([0-9a-fA-F]+);/g, (_, code: string) => String.fromCodePoint(parseInt(code, 16)))

const stripMarkdownV2 = (text: string) =>
  text
    .replace(/(?<!\\)\[((?:\\.|[^\]\\])*)\]\((?:\\.|[^)\\])*\)/g, "$1")
    .replace(/(?<!\\)(\|\||__|[*_~`])/g, "")
    .replace(/\\(.)/g, "$1")

const stripMarkdown = (text: string) =>
  text
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[*_`]/g, "")

/** The text a client sees once `parse_mode` has been applied. */
export const renderText = (text: string, parseMode: string | undefined): string => {
  switch (parseMode?.toLowerCase()) {
    case "html":
      return stripHtml(text)
    case "markdownv2":
      return stripMarkdownV2(text)
    case "markdown":
      return stripMarkdown(text)
    default:
      return text
  }
}
