// Removes what is not the author's own opinion before scoring: an opening greeting, quoted email replies, signatures, mobile footers,
// links, e-mail addresses, @mentions and the brand's own name (so "Happy Feet Shoes" is not praise by itself), and
// decodes the character references social APIs leave in post text.

const GMAIL_WROTE = /^\s*On\b.*\bwrote:\s*$/i
const GMAIL_WROTE_START = /^\s*On\s.*\d/i
const WROTE_END = /\bwrote:\s*$/i
const OUTLOOK_RULE = /^\s*_{8,}\s*$/
const ORIGINAL_MESSAGE = /^\s*-{2,}\s*(?:Original|Forwarded) Message\s*-{2,}/i
const FROM_HEADER = /^\s*\*?From:\*?\s/i
const HEADER_FIELD = /^\s*\*?(?:Sent|Date|To|Subject|Cc):\*?\s/i
const SIGNATURE = /^--\s*$/
const MOBILE_FOOTER = /^\s*(?:Sent from my\b|Sent from Mail for\b|Get Outlook for\b)/i
const LINE_BREAK = /\r?\n/
const URL = /(?:\bhttps?:\/\/|\bwww\.)[^\s<>"]+/gi
// The look-behind starts an address only where a run of address characters starts: without it the engine retries
// from every character of a long run that has no "@" after it, which is quadratic.
const EMAIL = /(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+/g
const MENTION = /(^|[^\w@])@\w+/g
const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/g
const TERM_SEPARATOR = /[\s\-_.]+/
const STARTS_QUOTED = /^\s*>/
/**
 * A sign-off alone on its (trimmed) line ("Best,", "Kind regards", "Thanks,"): the start of a signature, not an
 * opinion. Matched on the trimmed line because two `\s*` around an optional mark backtrack quadratically on a long
 * run of spaces.
 */
const VALEDICTION =
  /^(?:best|all the best|best wishes|warm wishes|cheers|thanks|thank you|many thanks|thanks again|(?:many )?thanks in advance|thank you in advance|thanks for your (?:help|time)|thank you for your (?:help|time)|regards|kind regards|best regards|warm regards|warmest regards|sincerely|yours sincerely|yours faithfully|yours truly|yours|take care|br)\s*[,.!]?$/i
/**
 * A greeting alone on the first line of a message ("Dear Sir or Madam,", "Hello Sam,", "Hi there"): a formula, not an
 * opinion ("dear" alone is rated warm). At most six words, so a first line that says more is kept.
 */
const SALUTATION_LINE = /^(?:dear|hi|hello|hey|greetings|good (?:morning|afternoon|evening))(?:[ \t]+[^\s,:;!.?]+){0,6}[ \t]*[,:!]?$/i
/** "Dear X," opening a one-line message: the greeting up to its comma (a name of at most six words). */
const DEAR_INLINE = /^\s*dear(?:[ \t]+[^\s,:;!.?]+){1,6}[ \t]*,/i

/**
 * Words and phrases that only acknowledge, thank or take leave ("Ok.", "Fine, thanks.", "Yes I see", "Bye"): in a
 * conversation's turns they keep the exchange going or close it, as a sign-off closes a mail, and say nothing of what
 * the turns around them are about ("ok" and "yes" are rated warm). Longest first.
 */
const ACKNOWLEDGEMENTS: ReadonlyArray<ReadonlyArray<string>> = [
  ["i", "hope", "so"], ["thank", "you"], ["all", "right"], ["got", "it"], ["i", "see"], ["i", "guess"], ["i", "suppose"], ["will", "do"],
  ["no", "problem"], ["ok"], ["okay"], ["k"], ["kk"], ["fine"], ["alright"], ["sure"], ["right"], ["yes"], ["yeah"], ["yep"], ["yup"], ["no"],
  ["nope"], ["thanks"], ["thx"], ["ty"], ["cheers"], ["bye"], ["goodbye"], ["noted"], ["understood"], ["np"], ["then"], ["well"], ["so"],
  ["oh"], ["ah"], ["hmm"],
].sort((a, b) => b.length - a.length)
/** Words that thank. */
const THANKS = new Set(["thanks", "thank", "thx", "ty", "cheers"])
/**
 * Words of approval, and the words around them, that close a turn politely only beside a thanks on a line of their
 * own ("Great, thank you.", "Perfect, thanks so much", "Cool, thanks for your help"): said to whatever was answered,
 * not of anything the conversation was about. Without a thanks ("Great." after a complaint) they stay: praise, or irony.
 */
const COURTESY = new Set([
  "great", "perfect", "lovely", "brilliant", "awesome", "excellent", "wonderful", "cool", "super", "nice",
  "much", "very", "so", "that", "helps", "helped", "for", "your", "help",
])
/** A line of words and plain punctuation only, short enough to be a turn of acknowledgement (an emoji or a number says more). */
const ACKNOWLEDGEMENT_SHAPE = /^[\p{L}\s'’.,!?…-]{1,60}$/u

/**
 * Whether the line is only acknowledgement words ("Fine. Thanks I guess.", "ok ok"; "No, that's all" is not), or
 * courtesy with a thanks ("Great, thank you.").
 */
const acknowledgesOnly = (line: string): boolean => {
  const trimmed = line.trim()
  if (!ACKNOWLEDGEMENT_SHAPE.test(trimmed)) return false
  const words = trimmed.toLowerCase().split(/[^\p{L}'’]+/u).filter((w) => w !== "")
  const thanked = words.some((w) => THANKS.has(w))
  let i = 0
  while (i < words.length) {
    const phrase = ACKNOWLEDGEMENTS.find((p) => p.every((w, k) => words[i + k] === w))
    if (phrase !== undefined) i += phrase.length
    else if (thanked && COURTESY.has(words[i]!)) i += 1
    else return false
  }
  return words.length > 0
}

/**
 * One case-insensitive expression for the brand's names, handles and hashtags. "Harbor Lane" also matches
 * "HarborLane", "@harborlane", "#HarborLane" and "Harbor Lane's".
 */
export const compileBrand = (terms: ReadonlyArray<string>): RegExp | undefined => {
  const alternatives = terms
    .map((term) => term.trim().replace(/^[@#]+/, ""))
    .filter((term) => term !== "")
    .map((term) => term.split(TERM_SEPARATOR).map((part) => part.replace(REGEX_SPECIAL, "\\$&")).join("[\\s\\-_.]*"))
  if (alternatives.length === 0) return undefined
  alternatives.sort((a, b) => b.length - a.length)
  return new RegExp(`(?<![\\p{L}\\p{N}_])[@#]?(?:${alternatives.join("|")})(?:['’]s)?(?![\\p{L}\\p{N}_])`, "giu")
}

/** Whether line i starts what is not the author's new text: a signature, a quoted reply or its header. */
const startsQuotedPart = (lines: ReadonlyArray<string>, i: number): boolean => {
  const line = lines[i] ?? ""
  const next = lines[i + 1] ?? ""
  return SIGNATURE.test(line) || OUTLOOK_RULE.test(line) || ORIGINAL_MESSAGE.test(line) ||
    GMAIL_WROTE.test(line) || (GMAIL_WROTE_START.test(line) && WROTE_END.test(next)) ||
    (FROM_HEADER.test(line) && (HEADER_FIELD.test(next) || HEADER_FIELD.test(lines[i + 2] ?? "")))
}

/** Keeps only the author's new text of an e-mail: stops at the quoted reply or the signature, drops `>` lines. */
const stripReplyAndSignature = (text: string): string => {
  const lines = text.split(LINE_BREAK)
  const ends = lines.map((_, i) => startsQuotedPart(lines, i))
  // filledAfter[i]: how many non-blank lines follow line i before a signature or quoted reply starts (counted once,
  // not once per sign-off line): what a sign-off may have under it is the signature, not the reply below that.
  const filledAfter = new Int32Array(lines.length + 1)
  for (let i = lines.length - 1; i > 0; i--) {
    const line = lines[i] ?? ""
    filledAfter[i - 1] = ends[i] || STARTS_QUOTED.test(line) ? 0 : (filledAfter[i] ?? 0) + (line.trim() === "" ? 0 : 1)
  }
  const kept: string[] = []
  const first = lines.findIndex((l) => l.trim() !== "")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ""
    if (i === first && (filledAfter[i] ?? 0) > 0 && SALUTATION_LINE.test(line.trim())) continue
    if (ends[i]) break
    // A sign-off line ends the message when only a short signature (a name, a phone, a title) follows it.
    if ((filledAfter[i] ?? 0) <= 4 && VALEDICTION.test(line.trim())) break
    if (STARTS_QUOTED.test(line) || MOBILE_FOOTER.test(line)) continue
    if (kept.length > 0 || line !== "") kept.push(line)
  }
  // Turns that only acknowledge or thank ("Ok. I hope so." closing a chat about a late parcel) do not count, as long as
  // a line that says something is left.
  const saying = kept.filter((line) => line.trim() !== "" && !acknowledgesOnly(line))
  return saying.length > 0 && saying.length < kept.filter((line) => line.trim() !== "").length ? saying.join("\n") : kept.join("\n")
}

/**
 * The few character references social APIs leave in post text (X escapes "&", "<" and ">"): "&lt;3" is a heart, and
 * "&gt;" must not read as the slang "gt".
 */
const ENTITY = /&(?:amp|lt|gt|quot|apos|#39|#x27);/g
const ENTITIES: Readonly<Record<string, string>> = {
  "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&#39;": "'", "&#x27;": "'",
}

/** The text with greetings, replies, signatures, links, addresses, mentions and brand names removed. */
export const cleanText = (text: string, brand?: RegExp): string => {
  let out = text.includes("&") ? text.replace(ENTITY, (e) => ENTITIES[e] ?? e) : text
  if (out.includes("\n") || STARTS_QUOTED.test(out)) out = stripReplyAndSignature(out)
  if (DEAR_INLINE.test(out)) out = out.replace(DEAR_INLINE, " ")
  if (out.includes("://") || out.includes("www.")) out = out.replace(URL, " ")
  if (out.includes("@")) out = out.replace(EMAIL, " ").replace(MENTION, "$1 ")
  if (brand !== undefined) out = out.replace(brand, " ")
  return out
}
