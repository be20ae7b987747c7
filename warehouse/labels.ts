// Characters no text people read (a name in a list, a value printed to a terminal) should carry as themselves: C1
// controls (U+009B is a CSI on its own), DEL, and the bidi overrides and isolates that reorder what is shown ("Trojan
// Source"). C0 controls are added by each user of the class, since output may keep tab and line feed.
export const DISPLAY_CONTROLS = "\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"

// A stored label (a token's or an audience's name) holds no control character (Cc: C0, DEL, C1), no format character
// (Cf: zero-width space and joiners, soft hyphen, byte-order mark, word joiner, bidi marks, overrides and isolates,
// tag characters), no half of a surrogate pair and no line or paragraph separator: stored, one would clear an operator's screen or show a name
// reversed wherever it is listed, and an invisible one makes "Dup\u200b" a second name that looks exactly like "Dup".
// The joiners (U+200C, U+200D) are kept only where they change what is shown (JOINING): inside an emoji sequence,
// after an Indic virama (a conjunct or Malayalam's chillu), and a non-joiner between two Arabic-script letters
// (Persian); anywhere else they join nothing and go like the rest.
const LABEL_UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u
const LABEL_UNSAFE_ALL = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu

/** The viramas (killers) of the Indic scripts and of Myanmar and Khmer, after which a joiner shapes a conjunct. */
const VIRAMA = "\\u094d\\u09cd\\u0a4d\\u0acd\\u0b4d\\u0bcd\\u0c4d\\u0ccd\\u0d4d\\u0dca\\u1039\\u17d2"
const JOINING = new RegExp(
  `(?<=\\p{Extended_Pictographic}[\\ufe0f\\u{1f3fb}-\\u{1f3ff}]?)\\u200d(?=\\p{Extended_Pictographic})` +
    `|(?<=[${VIRAMA}])[\\u200c\\u200d]|(?<=\\p{Script=Arabic})\\u200c(?=\\p{Script=Arabic})`, "gu")

/** A character as people look it up: U+200B. */
export const codePoint = (ch: string): string => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`

/** A label as a message may show it: quoted, each unsafe character written as \u{...}, cut at 60 characters. */
const shown = (label: string): string => {
  const cut = [...label].length > 60 ? `${[...label].slice(0, 60).join("")}...` : label
  return `"${cut.replace(LABEL_UNSAFE_ALL, (ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`)}"`
}

/**
 * Why a label cannot be stored, naming it and the first character that is no part of one (its code point), or
 * undefined when it can. `what` says whose label it is ("name").
 */
export const labelProblem = (label: string, what = "name"): string | undefined => {
  const found = LABEL_UNSAFE.exec(label.replace(JOINING, ""))
  if (found === null) return undefined
  const ch = String.fromCodePoint(found[0].codePointAt(0)!)
  const kind = /\p{Cc}/u.test(ch) ? "a control character"
    : /\p{Cf}/u.test(ch) ? "an invisible format character"
    : /\p{Cs}/u.test(ch) ? "half of a surrogate pair" : "a line separator"
  return `${what} ${shown(label)} holds ${codePoint(ch)}, ${kind}: a ${what} may hold none, so that two that look the same cannot both exist`
}

/** A label as it is stored and compared: Unicode's composed form (NFC), so "é" typed either way is one name. */
export const normaliseLabel = (label: string): string => label.normalize("NFC")
