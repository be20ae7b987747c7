// What a mail's signature states about its sender: phone numbers and X/Twitter handles written under the sign-off.
// A signature is typed by anyone, so these identifiers are "unverified" (identity decides what they may link).
import type { Identifier } from "../message.ts"

const LINE_BREAK = /\r?\n/
/** Where the author's own text ends: a quoted reply, an Outlook header block, a forwarded original. */
const REPLY_START = /^(?:>|On .{1,200} wrote:\s*$|_{8,}\s*$|-{2,}\s*(?:Original|Forwarded) Message|From:\s)/i
/** The conventional signature delimiter ("-- "), or a sign-off alone on its line ("Thanks,", "Kind regards"). */
const DELIMITER = /^--\s?$/
const SIGN_OFF = /^(?:(?:best|kind|warm|warmest)(?: regards| wishes)?|regards|cheers|thanks(?: again| in advance)?|thank you|many thanks|sincerely|yours(?: sincerely| faithfully| truly)?|take care|all the best)[,.!]?$/i
/** A signature is short: more lines after a sign-off are the message, not a signature. */
const MAX_SIGNATURE_LINES = 6
/** A phone number: digits with spaces, dots, dashes or brackets, optionally after a label such as "M:" or "Tel". */
const PHONE = /(?:^|[\s:])(\+?\(?\d[\d ().-]{6,18}\d)(?![\d@])/
/** An X/Twitter handle: "@name" not part of an e-mail address, or an x.com / twitter.com link. */
const HANDLE = /(?:^|[\s(])@([A-Za-z0-9_]{1,15})(?![\p{L}\p{N}_]|[.@-][\p{L}\p{N}])|(?:twitter\.com|x\.com)\/([A-Za-z0-9_]{1,15})(?![\p{L}\p{N}_])/iu

/** The lines of the signature block of a mail's text, or none. */
export const signatureLines = (text: string): ReadonlyArray<string> => {
  const own: Array<string> = []
  for (const line of text.split(LINE_BREAK, 2_000)) {
    if (REPLY_START.test(line.trim())) break
    own.push(line.trim())
  }
  let start = -1
  for (let i = own.length - 1; i >= 0 && own.length - i <= MAX_SIGNATURE_LINES + 1; i--) {
    if (DELIMITER.test(own[i]!) || SIGN_OFF.test(own[i]!)) {
      start = i
      break
    }
  }
  if (start === -1) return []
  return own.slice(start + 1).filter((l) => l !== "").slice(0, MAX_SIGNATURE_LINES)
}

/** Phone numbers and handles a signature states. */
export const signatureIdentifiers = (text: string): ReadonlyArray<Identifier> => {
  const found: Array<Identifier> = []
  for (const line of signatureLines(text)) {
    const phone = PHONE.exec(line)?.[1]
    if (phone !== undefined && phone.replace(/\D/g, "").length >= 7) found.push({ kind: "phone", value: phone.trim(), trust: "unverified" })
    const handle = HANDLE.exec(line)
    const name = handle?.[1] ?? handle?.[2]
    if (name !== undefined) found.push({ kind: "twitter_handle", value: name, trust: "unverified" })
  }
  return found
}
