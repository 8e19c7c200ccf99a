/** Text cut to fit Telegram's limits without breaking characters. */

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" })

/**
 * `text` in at most `max` UTF-16 units (what Telegram and Schema's length checks count), cut between graphemes
 * (never inside an emoji, a flag or a letter with its accent) and ended with "…" when cut.
 */
export const clip = (text: string, max = 100): string => {
  if (text.length <= max) return text
  let kept = ""
  for (const { segment } of graphemes.segment(text)) {
    if (kept.length + segment.length > max - 1) break
    kept += segment
  }
  return `${kept}…`
}
