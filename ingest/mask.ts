// E-mail addresses and phone numbers in free text, masked for readers without profiles:identifiers (a marketer's
// profile read, ingest/auth.ts; the listening report, ingest/listening-route.ts). Senders write these texts, so the
// work must stay linear in their length: one regular expression over the whole text for addresses backtracks over
// every start of a long word that holds none (18 s for a 50,000-character author name, the event loop held).
export const MASK = "[masked]"

/** What separates the words of a text that may hold e-mail addresses. */
const WORD_GAPS = /([\s<>()"',;:[\]]+)/
/** A domain: a dot with a character on each side. */
const DOMAIN = /.\../

/** In one word, each "local@domain" masked (a leading "@" of a handle stays): "@mail@x.example" is "@[masked]". */
const maskInWord = (word: string) => {
  const parts = word.split("@")
  const out: Array<string> = []
  for (let i = 0; i < parts.length; i++) {
    const next = parts[i + 1]
    if (next !== undefined && parts[i] !== "" && DOMAIN.test(next)) {
      out.push(MASK)
      i++
    } else {
      out.push(parts[i]!)
    }
  }
  return out.join("@")
}

/** Every e-mail address in a text masked, word by word. */
export const maskAddresses = (text: string): string =>
  text.includes("@") ? text.split(WORD_GAPS).map((word, i) => (i % 2 === 0 ? maskInWord(word) : word)).join("") : text

/** A run that may be a phone number, written with the separators people type (7 or more digits make it one). */
export const PHONE_LIKE = /\+?\d[\d ().-]{5,}\d/g
