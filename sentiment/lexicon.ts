// Our own word lists (slang, emoticons, emoji, retail customer-service words, modifiers), merged with natural's
// AFINN and Pattern vocabularies into the lookup tables the scorer uses. Valences are on AFINN's scale (-5..+5).
import { afinnVocabulary, naturalNegations, patternVocabulary, stem } from "./natural.ts"

/** Where a valence came from; shown to marketers as the evidence rule. */
export type LexiconSource = "lexicon" | "slang" | "domain" | "emoticon" | "emoji" | "phrase" | "rating"

/** Social-media slang and initialisms. */
const SLANG: Record<string, number> = {
  lol: 1.5, lols: 1.5, lmao: 2, lmfao: 2, rofl: 2, roflmao: 2, haha: 2, hehe: 1.5, xd: 2, yay: 3, yey: 3,
  woohoo: 3, woot: 2.5, ftw: 2.5, gr8: 3, grt: 2.5, luv: 3, ily: 3, fab: 3, fav: 2, fave: 2, faves: 2, amazeballs: 3,
  thx: 2, thanx: 2, tks: 2, ty: 1.5, tysm: 3, tyvm: 3, kudos: 2.5, props: 1.5, shoutout: 1.5, legit: 1.5, dope: 2,
  epic: 2.5, awsome: 3, awesomesauce: 3, nice1: 2.5, coolio: 2, blessed: 2.5, obsessed: 2, slay: 2, slays: 2,
  smh: -2, wtf: -2.5, ffs: -2.5, fml: -3, meh: -1, ugh: -2, ughh: -2, argh: -2, grr: -2, grrr: -2, yikes: -1.5,
  oof: -1, bruh: -0.5, sux: -3, sucky: -2.5, crappy: -2.5, trash: -2.5, trashy: -2, garbage: -2.5, mid: -1,
  rip: -1.5, jk: 0.5, nope: -1, scammy: -3, ripoff: -3, smdh: -2.5, wth: -2, omfg: -1, gtfo: -3,
}

/** Retail customer-service words (clothing and outdoor goods, delivery, returns, support). */
const DOMAIN_WORDS: Record<string, number> = {
  defective: -3, faulty: -3, malfunctioning: -2.5, malfunctioned: -2.5, unusable: -3, unwearable: -3, flimsy: -2,
  ripped: -2, torn: -2, frayed: -2, fraying: -2, unraveling: -2, unravelled: -2, unraveled: -2, faded: -1.5,
  shrank: -2, shrunk: -2, pilling: -1.5, pilled: -1.5, stained: -1.5, scratched: -1.5, dented: -1.5, cracked: -2,
  leaking: -2, leaks: -2, leaky: -2, itchy: -1.5, scratchy: -1.5, misprinted: -2, mislabeled: -1.5, counterfeit: -3,
  knockoff: -2.5, overpriced: -2, overcharged: -2.5, pricey: -1, unresponsive: -2, undelivered: -2.5,
  delayed: -1.5, backordered: -1, restocking: -1, runaround: -2, sturdy: 1.5, durable: 1.5, comfy: 2, cozy: 2,
  cosy: 2, flattering: 2, affordable: 1.5, bargain: 2, responsive: 1.5, hassle: -1.5, unhelpful: -2,
  uncomfortable: -2, refund: -0.5, refunds: -0.5, returned: -0.5, exchanged: -0.3, broken: -3, broke: -2,
  issue: -1, issues: -1, slow: -1.5, late: -1.5, stuck: -2, lost: -2.5, missing: -2,
  // Senses that mislead in customer service: "customer support", "customer care", "I was charged", "I want a
  // refund", "please help" name a topic or make a request; they are not praise or blame.
  support: 0, supported: 0, care: 0, charged: 0, charges: 0, want: 0, wants: 0, wanted: 0, please: 0, help: 0,
  helps: 0, confirmed: 0, confirm: 0,
  // Courtesy: service messages open and close with thanks whatever they say; it is politeness, not praise.
  thanks: 0, thx: 0, cheers: 0, ok: 0, okay: 0, regards: 0,
  // Pattern rates these as adjectives, but in reviews "quality" is mostly the noun, and whether "high" or "low" is
  // good depends on whether price or quality is meant; the phrases above carry the common cases.
  quality: 0, high: 0, low: 0,
}

/** Multi-word expressions; matched on Porter stems, so inflected forms match too. */
const DOMAIN_PHRASES: Record<string, number> = {
  "never arrived": -3, "never came": -3, "never received": -3, "never got it": -3, "never showed up": -3,
  "still waiting": -2, "still not here": -2.5, "lost in transit": -2.5, "lost package": -2.5,
  "late delivery": -2, "arrived late": -2, "delivered late": -2, "days late": -2, "weeks late": -2.5,
  "wrong size": -2, "wrong item": -2.5, "wrong color": -2, "wrong colour": -2, "wrong order": -2.5,
  "missing item": -2.5, "missing items": -2.5, "missing parts": -2.5, "item missing": -2.5,
  "torn seam": -2.5, "seam ripped": -2.5, "came apart": -2.5, "fell apart": -3, "falling apart": -3,
  "broke after": -2.5, "stopped working": -2.5, "quit working": -2.5, "does not work": -2.5, "not working": -2.5,
  "poor quality": -3, "low quality": -2.5, "cheaply made": -2.5, "badly made": -2.5, "high quality": 2.5,
  "great quality": 3, "high price": -1, "high prices": -1, "low price": 1.5, "low prices": 1.5, "well made": 2.5, "well built": 2.5, "true to size": 1.5, "fits perfectly": 3,
  "runs small": -1, "runs large": -1, "too small": -1.5, "too big": -1.5, "too tight": -1.5, "too short": -1.5,
  "out of stock": -1, "charged twice": -2.5, "double charged": -2.5, "hidden fees": -2, "rip off": -3,
  "waste of money": -3, "waste of time": -3, "worth every penny": 3, "money back": -1.5, "send it back": -1.5,
  "sent it back": -1.5, "sending it back": -1.5, "had to return": -1.5, "no response": -2, "no reply": -2,
  "no answer": -2, "on hold": -1.5, "hung up": -2, "fast shipping": 2, "fast delivery": 2, "quick delivery": 2,
  "quick shipping": 2, "arrived quickly": 2, "arrived early": 2, "arrived on time": 1.5, "delivered on time": 1.5,
  "ahead of schedule": 2, "above and beyond": 3, "went the extra mile": 3, "five stars": 3, "one star": -2.5,
  "thank you": 0, "thank you so much": 2, "thanks so much": 2, "thanks a lot": 1.5, "many thanks": 1, "no thanks": -1, "customer for life": 3, "never again": -3, "never buying": -2.5,
  "never ordering": -2.5, "never order": -2.5, "never buy": -2.5, "do not buy": -2.5, "dont buy": -2.5,
  "don't buy": -2.5, "total disaster": -3.5,
}

/** Phrases that look like sentiment or negation but are not: they are consumed and score nothing. */
const NEUTRAL_PHRASES = [
  "not only", "not just", "no matter", "nothing but", "as well", "pretty much", "of course", "at least", "even if",
  "as if", "would like", "no later than", "so far", "as far as",
  // Requests and greetings of service messages: "I'd like to return", "quick question", "good morning".
  "i'd like", "id like", "i would like", "quick question", "good morning", "good afternoon", "good evening",
  "thanks in advance", "thank you in advance", "kind regards", "best regards", "warm regards", "best wishes",
  // Closing formulas of a chat or call: courtesy, whatever the conversation was about.
  "great thank you", "great thanks", "perfect thanks", "perfect thank you", "ok thank you", "ok thanks",
  // Garments and retail processes whose names contain valence words: "base layer", "down parka", "restock alert".
  "base layer", "base layers", "down jacket", "down parka", "down vest", "down coat", "down fill", "restock alert",
  "stock alert", "price alert", "free returns", "free return", "recommended size", "size recommendation",
]

/** Modifier phrases: a dampener like "kind of", an intensifier like "a lot". Single words are listed below. */
const DAMPENER_PHRASES = ["kind of", "sort of", "a bit", "a little", "a tad", "a little bit", "more or less"]
const INTENSIFIER_PHRASES = ["so much", "way too", "a lot", "by far", "beyond words"]

/** Words that scale the next sentiment word up. */
const INTENSIFIERS = [
  "very", "really", "extremely", "so", "super", "totally", "absolutely", "incredibly", "highly", "truly", "completely",
  "utterly", "especially", "exceptionally", "remarkably", "seriously", "insanely", "hugely", "deeply", "most",
  "thoroughly", "entirely", "particularly", "immensely", "enormously", "amazingly", "unbelievably", "ridiculously",
  "damn", "damned", "fucking", "freaking", "frickin", "friggin", "hella", "mega", "uber", "quite", "such",
  "majorly", "soo", "realy", "rly", "fully", "purely", "exceedingly", "tremendously", "strongly", "terribly",
  "awfully", "crazy", "wildly", "genuinely", "definitely", "certainly", "too",
]

/** Words that scale the next sentiment word down. */
const DAMPENERS = [
  "kinda", "sorta", "somewhat", "slightly", "fairly", "rather", "mildly", "moderately", "marginally", "partly",
  "partially", "reasonably", "relatively", "almost", "nearly", "occasionally", "sometimes", "little", "less",
  "pretty", "semi", "bit",
]

/**
 * Modifiers that are sentiment words in their own right: they modify a sentiment word that follows ("pretty good",
 * "damn fine"), and otherwise count with their own valence ("a pretty dress", "damn!").
 */
export const DUAL_ROLE = new Set(["pretty", "super", "damn", "damned", "fucking", "terribly", "awfully", "crazy",
  "definitely", "certainly", "genuinely", "incredibly", "amazingly", "ridiculously", "seriously", "highly"])

/** Negation words in addition to natural's list. Forms ending in n't are recognised by suffix. */
const NEGATORS = [
  "none", "nobody", "nothing", "nor", "nowhere", "without", "cannot", "aint", "dont", "doesnt", "didnt", "isnt",
  "arent", "wasnt", "werent", "wont", "cant", "couldnt", "shouldnt", "wouldnt", "havent", "hasnt", "hadnt",
  "neednt", "mustnt", "nothin", "nah", "never", "no", "not", "neither", "havnt", "dosent",
]

/** Words that weaken the force of what follows without flipping it ("hardly", "barely" behave like negation). */
export const SOFT_NEGATORS = new Set(["hardly", "barely", "scarcely", "rarely", "seldom"])

/**
 * Words that carry no sentiment on their own but are negative when negated ("it doesn't work", "didn't fit",
 * "never responded"): for retail support these are among the commonest complaints.
 */
const NEGATED_ONLY: Record<string, number> = {
  work: -2.5, works: -2.5, worked: -2.5, working: -2.5, function: -2, functions: -2, fit: -1.5, fits: -1.5,
  fitted: -1.5, arrive: -2, arrived: -2, arrives: -2, come: -1, came: -1.5, deliver: -2, delivered: -2,
  respond: -2, responded: -2, responds: -2, reply: -2, replied: -2, answer: -1.5, answered: -1.5, last: -1.5,
  lasted: -1.5, charge: -1.5, charges: -1.5, turn: -1, fix: -1.5, fixed: -1.5, solve: -1.5, solved: -1.5,
  resolved: -2, resolve: -2, received: -2, receive: -2, refunded: -2, worth: -2, recommend: -2,
}

/** Clause-level contrast: what follows "but" outweighs what precedes it. */
export const CONTRAST_BUT = new Set(["but", "however", "nevertheless", "nonetheless", "yet", "except"])
/** Concession: the clause introduced by "although" weighs less than the main clause. */
export const CONTRAST_ALTHOUGH = new Set(["although", "whereas", "despite", "albeit"])

/** Emoticons, matched as written (case-sensitive where it matters, e.g. ":D"). */
export const EMOTICONS: ReadonlyMap<string, number> = new Map([
  [":)", 2], [":-)", 2], [":]", 2], ["=)", 2], [":o)", 2], [":')", 2], [":D", 2.5], [":-D", 2.5], ["=D", 2.5],
  [";)", 1.5], [";-)", 1.5], [";D", 2], [":P", 1], [":-P", 1], [":p", 1], [":-p", 1], [":b", 1], [":*", 2],
  [":-*", 2], ["<3", 3], ["<33", 3], ["<333", 3], ["^_^", 2], ["^^", 1.5], ["^.^", 2],
  [":(", -2], [":-(", -2], [":[", -2], ["=(", -2], [":'(", -2.5], [":'-(", -2.5], [":((", -2.5], [":(((", -3],
  [":/", -1], [":-/", -1], [":\\", -1], [":|", -0.5], [":-|", -0.5], [">:(", -3], [">:-(", -3], [":@", -2.5],
  ["</3", -3], ["-_-", -1], ["-.-", -1], [">_<", -1.5], [";(", -2], [":S", -1], [":-S", -1],
  [":O", -0.5], [":-O", -0.5], [":))", 2.5], [":)))", 3],
])

/** Emoji by code point (skin tones, variation selectors and joiners are skipped by the tokenizer). */
export const EMOJI: ReadonlyMap<number, number> = new Map([
  [0x1f600, 2.5], [0x1f603, 2.5], [0x1f604, 2.5], [0x1f601, 2.5], [0x1f606, 2.5], [0x1f605, 1], [0x1f602, 2],
  [0x1f923, 2], [0x1f642, 1.5], [0x1f60a, 2.5], [0x1f607, 2], [0x1f60d, 3], [0x1f970, 3], [0x1f618, 2.5],
  [0x1f617, 2], [0x1f619, 2], [0x1f61a, 2], [0x1f60b, 2], [0x1f60e, 2], [0x1f929, 3], [0x1f973, 3], [0x1f917, 2.5],
  [0x1f60c, 1.5], [0x1f609, 1.5], [0x263a, 2], [0x1f44d, 2], [0x1f44f, 2], [0x1f64c, 2.5], [0x1f4af, 2],
  [0x1f525, 1.5], [0x2764, 3], [0x2665, 3], [0x1f495, 3], [0x1f496, 3], [0x1f497, 3], [0x1f493, 3], [0x1f49e, 3],
  [0x1f498, 3], [0x1f49d, 3], [0x1f499, 2.5], [0x1f49a, 2.5], [0x1f49b, 2.5], [0x1f49c, 2.5], [0x1f9e1, 2.5],
  [0x1f90d, 2.5], [0x1f5a4, 2], [0x2728, 1], [0x1f389, 2.5], [0x1f38a, 2], [0x2b50, 1.5], [0x1f31f, 2],
  [0x2705, 1], [0x1f64f, 1.5], [0x1f44c, 2], [0x1f91d, 1.5], [0x1f3c6, 2], [0x1f947, 2], [0x1f60f, 0.5],
  [0x1f610, -0.5], [0x1f611, -1], [0x1f636, -0.5], [0x1f615, -1.5], [0x1f641, -2], [0x2639, -2], [0x1f61e, -2.5],
  [0x1f614, -2], [0x1f61f, -2], [0x1f622, -2.5], [0x1f62d, -2], [0x1f629, -2], [0x1f62b, -2], [0x1f624, -2],
  [0x1f620, -3], [0x1f621, -3], [0x1f92c, -3.5], [0x1f92e, -3], [0x1f922, -2.5], [0x1f44e, -2.5], [0x1f494, -3],
  [0x1f612, -2], [0x1f644, -2], [0x1f62c, -1], [0x1f631, -2], [0x1f926, -2], [0x1f937, -0.5], [0x274c, -1.5],
  [0x1f4a9, -2.5], [0x1f616, -2.5], [0x1f623, -2], [0x1f630, -2], [0x1f628, -2], [0x1f613, -1.5], [0x1f62a, -1],
  [0x1f97a, -1], [0x1f921, -2], [0x1f6ab, -1.5], [0x1f637, -1], [0x1f47f, -2.5], [0x1f480, 0.5],
  [0x1f62e, -0.5], [0x1f632, -0.5], [0x1f625, -2], [0x1f62f, -0.5], [0x1f635, -1.5], [0x1f974, -1], [0x1f972, 0.5],
])

/** A phrase entry: the stems that must follow the head stem, and what the phrase means. */
export interface PhraseEntry {
  readonly rest: ReadonlyArray<string>
  readonly text: string
  readonly valence: number
  readonly role: number
  readonly source: LexiconSource
}

/** Token roles, as small integers so per-token state fits in typed arrays. */
export const ROLE_NONE = 0
export const ROLE_SENTIMENT = 1
export const ROLE_NEGATOR = 2
export const ROLE_INTENSIFIER = 3
export const ROLE_DAMPENER = 4
export const ROLE_BUT = 5
export const ROLE_ALTHOUGH = 6
export const ROLE_BREAK = 7
export const ROLE_SENTENCE_END = 8
export const ROLE_CONSUMED = 9
export const ROLE_NEGATED_ONLY = 10
export const ROLE_SOFT_NEGATOR = 11

export interface WordEntry {
  readonly valence: number
  readonly source: LexiconSource
}

/** Single words with a valence: ours first (they override), then AFINN, then Pattern adjectives. */
export const WORDS = new Map<string, WordEntry>()
/** Porter stem of an AFINN word to its valence, for inflections AFINN does not list. */
export const STEMMED_WORDS = new Map<string, number>()
/** Phrases keyed by the stem of their first word, longest first. */
export const PHRASES = new Map<string, PhraseEntry[]>()
export const NEGATOR_SET = new Set<string>()
export const INTENSIFIER_SET = new Set(INTENSIFIERS)
export const DAMPENER_SET = new Set(DAMPENERS)
export const NEGATED_ONLY_WORDS: ReadonlyMap<string, number> = new Map(Object.entries(NEGATED_ONLY))

/** Stem fallback skips words whose stem is a different sentiment word ("likely" is not "like"). */
export const NO_STEM = new Set(["likely", "unlikely", "only", "early", "merely", "lately", "really", "nearly",
  "hardly", "barely", "fairly", "pretty", "kindly", "likes", "wells", "finest", "finely", "gently", "goods"])

const splitPhrase = (phrase: string): string[] => phrase.split(" ").map(stem)

const addPhrase = (phrase: string, valence: number, role: number, source: LexiconSource): void => {
  const stems = splitPhrase(phrase)
  const head = stems[0]
  if (head === undefined || stems.length < 2) return
  const list = PHRASES.get(head) ?? []
  if (list.some((p) => p.text === phrase)) return
  list.push({ rest: stems.slice(1), text: phrase, valence, role, source })
  list.sort((a, b) => b.rest.length - a.rest.length)
  PHRASES.set(head, list)
}

for (const w of naturalNegations) NEGATOR_SET.add(w)
for (const w of NEGATORS) NEGATOR_SET.add(w)

const addWord = (word: string, valence: number, source: LexiconSource): void => {
  if (!WORDS.has(word) && !NEGATOR_SET.has(word)) WORDS.set(word, { valence, source })
}

for (const [w, v] of Object.entries(SLANG)) if (v !== 0) addWord(w, v, "slang")
// A zero here is kept on purpose: it shadows AFINN's sense of the word (see DOMAIN_WORDS).
for (const [w, v] of Object.entries(DOMAIN_WORDS)) addWord(w, v, "domain")
// Our phrases first: where AFINN lists the same phrase ("kind of": 0), our role for it wins.
for (const [p, v] of Object.entries(DOMAIN_PHRASES)) addPhrase(p, v, ROLE_SENTIMENT, "domain")
for (const p of DAMPENER_PHRASES) addPhrase(p, 0, ROLE_DAMPENER, "phrase")
for (const p of INTENSIFIER_PHRASES) addPhrase(p, 0, ROLE_INTENSIFIER, "phrase")
for (const p of NEUTRAL_PHRASES) addPhrase(p, 0, ROLE_NONE, "phrase")
for (const [w, v] of afinnVocabulary) {
  if (w.includes(" ")) addPhrase(w, v, v === 0 ? ROLE_NONE : ROLE_SENTIMENT, "phrase")
  else if (v !== 0) addWord(w, v, "lexicon")
}
// Pattern rates adjectives from -1 to +1; times 4 puts them on AFINN's scale ("good": 0.7 → 2.8, AFINN 3).
for (const [w, p] of patternVocabulary) {
  if (!w.includes(" ") && Math.abs(p) >= 0.1) addWord(w, p * 4, "lexicon")
}
for (const [w, v] of afinnVocabulary) {
  if (w.includes(" ") || v === 0) continue
  const s = stem(w)
  if (!STEMMED_WORDS.has(s)) STEMMED_WORDS.set(s, v)
}

