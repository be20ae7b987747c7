// How long a text a person or a sender wrote is shown in an answer that may show many of them (a preview's values, what
// an audience keeps of why a profile is in): cut, never at half of a surrogate pair.

/** A condition's text or a value seen, as a preview shows it and as an audience keeps it, at most this long. */
export const PREVIEW_TEXT_CHARS = 200

/** `text` at most PREVIEW_TEXT_CHARS long: when cut, its first characters and "…". */
export const cutText = (text: string): string => {
  if (text.length <= PREVIEW_TEXT_CHARS) return text
  const end = PREVIEW_TEXT_CHARS - 1
  const last = text.charCodeAt(end - 1)
  // Never half of a surrogate pair.
  return `${text.slice(0, last >= 0xd800 && last <= 0xdbff ? end - 1 : end)}…`
}
