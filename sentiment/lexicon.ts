// The lookup tables the scorer uses: VADER's human-rated lexicon (Hutto & Gilbert 2014, MIT licence, read from the
// `vader-sentiment` package) as the base, our documented additions (./additions.ts) beside it, and the words that
// modify sentiment (negators, intensifiers, dampeners, contrast). Valences are on VADER's scale (-4..+4); a word
// that is in neither list has no sentiment of its own.
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import {
  COMMERCE_PHRASES, COMMERCE_WORDS, EMOJI_VALENCES, EMOTICON_VALENCES, IDIOMS, NEGATED_ONLY, NEUTRAL_PHRASES,
  PROFANE_INTENSIFIERS, SERVICE_SENSES, SLANG, SLANG_INTENSIFIERS,
} from "./additions.ts"
import { naturalNegations, stem } from "./natural.ts"

/** Where a valence came from; shown to marketers as the evidence rule. */
export type LexiconSource = "lexicon" | "slang" | "domain" | "emoticon" | "emoji" | "phrase" | "rating" | "tenant"

/**
 * A mean rating closer to neutral than this (half a step of VADER's 9-point scale) says the raters found no
 * sentiment of the word's own ("number" 0.3, "challenge" 0.3): such words are neutral here.
 */
const NEUTRAL_BAND = 0.5

/** VADER's lexicon: `token <TAB> mean rating <TAB> sd <TAB> the ten raters' ratings`, one token a line. */
const readVader = (): Map<string, number> => {
  const file = createRequire(import.meta.url).resolve("vader-sentiment/vader_lexicon.txt")
  const out = new Map<string, number>()
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const tab = line.indexOf("\t")
    if (tab <= 0) continue
    const valence = Number(line.slice(tab + 1, line.indexOf("\t", tab + 1)))
    if (Number.isFinite(valence) && Math.abs(valence) > NEUTRAL_BAND) out.set(line.slice(0, tab), valence)
  }
  return out
}

/** The VADER lexicon's own tokens and valences (words, slang, emoticons). */
export const VADER_LEXICON: ReadonlyMap<string, number> = readVader()

/** Modifier phrases: a dampener like "kind of", an intensifier like "a lot". Single words are listed below. */
const DAMPENER_PHRASES = ["kind of", "sort of", "a bit", "a little", "a tad", "a little bit", "more or less"]
const INTENSIFIER_PHRASES = ["so much", "way too", "a lot", "by far", "beyond words"]

/** Words that scale the next sentiment word up. */
const INTENSIFIERS = [
  "very", "really", "extremely", "so", "totally", "absolutely", "incredibly", "highly", "truly", "completely",
  "utterly", "especially", "exceptionally", "remarkably", "seriously", "hugely", "deeply", "most",
  "thoroughly", "entirely", "particularly", "immensely", "enormously", "amazingly", "unbelievably", "quite", "such",
  "majorly", "soo", "realy", "rly", "fully", "purely", "exceedingly", "tremendously", "strongly", "terribly",
  "awfully", "wildly", "genuinely", "definitely", "certainly", "too",
]

/** Words that scale the next sentiment word down. */
const DAMPENERS = [
  "kinda", "sorta", "somewhat", "slightly", "fairly", "rather", "mildly", "moderately", "marginally", "partly",
  "partially", "reasonably", "relatively", "almost", "nearly", "occasionally", "sometimes", "little", "less",
  "pretty", "semi", "bit",
]

/**
 * Modifiers that are sentiment words in their own right: they modify a sentiment word that follows ("pretty good",
 * "mad good"), and otherwise count with their own valence ("a pretty dress", "so mad").
 */
export const DUAL_ROLE = new Set(["pretty", "terribly", "awfully", "definitely", "certainly", "genuinely",
  "incredibly", "amazingly", "seriously", "highly", ...SLANG_INTENSIFIERS])

/** Profanity used as an intensifier: emphasis only, never a direction of its own (see additions.ts). */
export const PROFANE_SET: ReadonlySet<string> = new Set(PROFANE_INTENSIFIERS)

/** Negation words in addition to natural's list. Forms ending in n't are recognised by suffix. */
const NEGATORS = [
  "none", "nobody", "nothing", "nor", "nowhere", "without", "cannot", "aint", "dont", "doesnt", "didnt", "isnt",
  "arent", "wasnt", "werent", "wont", "cant", "couldnt", "shouldnt", "wouldnt", "havent", "hasnt", "hadnt",
  "neednt", "mustnt", "nothin", "nah", "never", "no", "not", "neither", "havnt", "dosent",
]

/** Words that weaken the force of what follows without flipping it ("hardly", "barely" behave like negation). */
export const SOFT_NEGATORS = new Set(["hardly", "barely", "scarcely", "rarely", "seldom"])

/** Clause-level contrast: what follows "but" outweighs what precedes it. */
export const CONTRAST_BUT = new Set(["but", "however", "nevertheless", "nonetheless", "yet", "except"])
/** Concession: the clause introduced by "although" weighs less than the main clause. */
export const CONTRAST_ALTHOUGH = new Set(["although", "whereas", "despite", "albeit"])

const EMOTICON_START = /^[:;=<>^-]/
/** Emoticons as written: ours, then VADER's rated ones that start like an emoticon (":-)", ";)", "<3"). */
export const EMOTICONS: ReadonlyMap<string, number> = (() => {
  const out = new Map<string, number>(EMOTICON_VALENCES)
  for (const [token, v] of VADER_LEXICON) {
    if (!out.has(token) && token.length >= 2 && token.length <= 4 && EMOTICON_START.test(token) && !/\s/.test(token)) {
      out.set(token, v)
    }
  }
  return out
})()

/** Emoji by code point (see additions.ts). */
export const EMOJI: ReadonlyMap<number, number> = new Map(EMOJI_VALENCES)

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

/** Single words with a valence: the service-sense overrides first, then VADER's ratings, then our additions. */
export const WORDS = new Map<string, WordEntry>()
/** A rated word that is its own Porter stem, to its valence: for inflections the lexicon does not list. */
export const STEMMED_WORDS = new Map<string, number>()
/** Phrases keyed by the stem of their first word, longest first. */
export const PHRASES = new Map<string, PhraseEntry[]>()
export const NEGATOR_SET = new Set<string>()
export const INTENSIFIER_SET = new Set([...INTENSIFIERS, ...PROFANE_INTENSIFIERS, ...SLANG_INTENSIFIERS])
export const DAMPENER_SET = new Set(DAMPENERS)
export const NEGATED_ONLY_WORDS: ReadonlyMap<string, number> = new Map(Object.entries(NEGATED_ONLY))

/** Stem fallback skips words whose stem is a different sentiment word ("likely" is not "like"). */
export const NO_STEM = new Set(["likely", "unlikely", "only", "early", "merely", "lately", "really", "nearly",
  "hardly", "barely", "fairly", "pretty", "kindly", "likes", "wells", "finest", "finely", "gently", "goods"])

const splitPhrase = (phrase: string): string[] => phrase.toLowerCase().split(/\s+/).filter((w) => w !== "").map(stem)

/** Adds a phrase of two words or more to `into`, keyed by its first stem, longest first; false for one word. */
export const addPhraseTo = (
  into: Map<string, PhraseEntry[]>,
  phrase: string,
  valence: number,
  role: number,
  source: LexiconSource,
): boolean => {
  const stems = splitPhrase(phrase)
  const head = stems[0]
  if (head === undefined || stems.length < 2) return false
  const list = into.get(head) ?? []
  if (list.some((p) => p.text === phrase)) return true
  list.push({ rest: stems.slice(1), text: phrase, valence, role, source })
  list.sort((a, b) => b.rest.length - a.rest.length)
  into.set(head, list)
  return true
}

const addPhrase = (phrase: string, valence: number, role: number, source: LexiconSource): void => {
  addPhraseTo(PHRASES, phrase, valence, role, source)
}

for (const w of naturalNegations) NEGATOR_SET.add(w)
for (const w of NEGATORS) NEGATOR_SET.add(w)

const addWord = (word: string, valence: number, source: LexiconSource): void => {
  if (!WORDS.has(word) && !NEGATOR_SET.has(word)) WORDS.set(word, { valence, source })
}

// A zero in SERVICE_SENSES is kept on purpose: it shadows VADER's sense of the word.
for (const [w, v] of Object.entries(SERVICE_SENSES)) addWord(w, v, "domain")
for (const [w, v] of VADER_LEXICON) if (/^[a-z][a-z0-9'-]*$/.test(w)) addWord(w, v, "lexicon")
for (const [w, v] of Object.entries(SLANG)) addWord(w, v, "slang")
for (const [w, v] of Object.entries(COMMERCE_WORDS)) addWord(w, v, "domain")
for (const [p, v] of Object.entries(IDIOMS)) addPhrase(p, v, ROLE_SENTIMENT, "phrase")
for (const [p, v] of Object.entries(COMMERCE_PHRASES)) addPhrase(p, v, ROLE_SENTIMENT, "domain")
for (const p of DAMPENER_PHRASES) addPhrase(p, 0, ROLE_DAMPENER, "phrase")
for (const p of INTENSIFIER_PHRASES) addPhrase(p, 0, ROLE_INTENSIFIER, "phrase")
for (const p of NEUTRAL_PHRASES) addPhrase(p, 0, ROLE_NONE, "phrase")
for (const [w, v] of WORDS) {
  if (v.valence === 0 || v.source !== "lexicon") continue
  // Only a base form lends its rating to inflections the lexicon does not list ("horrify" to "horrifies").
  if (stem(w) === w) STEMMED_WORDS.set(w, v.valence)
}
