// The rule-based scorer: lexicon valences adjusted for negation, intensity, emphasis and contrast, summed and
// squashed into a compound score in [-1, 1], with the evidence that produced it.
import { compileAspects, defaultAspects, findAspects, type AspectTaxonomy, type CompiledAspects } from "./aspects.ts"
import { cleanText, compileBrand } from "./hygiene.ts"
import { detectTokensLanguage } from "./language.ts"
import {
  CONTRAST_ALTHOUGH, CONTRAST_BUT, DAMPENER_SET, DUAL_ROLE, INTENSIFIER_SET, NEGATED_ONLY_WORDS, NEGATOR_SET, PROFANE_SET,
  NO_STEM, PHRASES, ROLE_ALTHOUGH, ROLE_BREAK, ROLE_BUT, ROLE_CONSUMED, ROLE_DAMPENER, ROLE_INTENSIFIER,
  ROLE_NEGATED_ONLY, ROLE_NEGATOR, ROLE_NONE, ROLE_SENTENCE_END, ROLE_SENTIMENT, ROLE_SOFT_NEGATOR, SOFT_NEGATORS,
  STEMMED_WORDS, WORDS, addPhraseTo, type LexiconSource, type PhraseEntry,
} from "./lexicon.ts"
import { stem } from "./natural.ts"
import {
  FLAG_CAPS, FLAG_ELONGATED, KIND_BREAK, KIND_EMOJI, KIND_EMOTICON, KIND_END, KIND_NUMBER, KIND_RATING, KIND_WORD,
  tokenize, type Tokens,
} from "./tokenize.ts"

/** Bumped whenever rules, constants or word lists change, so stored scores can be told apart. */
export const MODEL_VERSION = "lexicon-8"

export type SentimentLabel = "positive" | "neutral" | "negative"
export type EvidenceRule =
  | LexiconSource
  | "negation"
  | "expectation"
  | "intensifier"
  | "dampener"
  | "caps"
  | "elongation"
  | "contrast"
  | "exclamation"
  | "question"

/** Why a text scored as it did: each weight is that item's share of the raw sum before squashing. */
export interface Evidence {
  readonly token: string
  readonly rule: EvidenceRule
  readonly weight: number
}

export interface AspectSentiment {
  readonly aspect: string
  readonly score: number
  readonly label: SentimentLabel
  /** The words that mentioned the aspect. */
  readonly terms: ReadonlyArray<string>
}

export interface SentimentResult {
  readonly status: "scored" | "unscored"
  /** Compound score in [-1, 1]; 0 when unscored. */
  readonly score: number
  readonly label: SentimentLabel
  readonly evidence: ReadonlyArray<Evidence>
  readonly aspects: ReadonlyArray<AspectSentiment>
  /** Why a text was left unscored; for a text longer than the scored limit, also how much of it was scored. */
  readonly reason?: string
  readonly language?: string
  readonly model: string
  /** Set when the text was longer than the scored limit and only its beginning was scored. */
  readonly truncated?: { readonly scoredChars: number; readonly totalChars: number }
}

export interface ScoreOptions {
  /** The brand's own names, handles and hashtags, which must not count as sentiment ("Harbor Lane"). */
  readonly brand?: ReadonlyArray<string>
  /** A tenant's own aspects (name → keywords and phrases), added to the default ones. */
  readonly aspects?: AspectTaxonomy
  /**
   * A tenant's own terms, ahead of the lexicon: its catalogue and process names, which are never sentiment
   * ("down parka": 0), and phrases of its trade with a valence on VADER's scale, -4..+4 ("torn seam": -2).
   */
  readonly terms?: Readonly<Record<string, number>>
  /** Whether the default aspects (product, delivery, returns, price, support, app) are tagged; default true. */
  readonly defaultAspects?: boolean
  /** Whether evidence is collected; default true. Bulk scoring that stores only the score can skip it. */
  readonly evidence?: boolean
  /** Whether non-English text is left unscored; default true. */
  readonly requireEnglish?: boolean
  /** Only this many characters of a text are scored (cut at a word boundary); default MAX_SCORED_CHARS. */
  readonly maxChars?: number
}

export interface Scorer {
  readonly score: (text: string) => SentimentResult
  readonly scoreMany: (texts: ReadonlyArray<string>) => SentimentResult[]
}

// Rule constants, chosen from first principles before the evaluation was run; none was fitted to the evaluation sets.
/** A negated valence flips and weakens: "not good" is milder than "bad". */
const NEGATION = -0.74
/** "hardly", "barely": weaker than a plain negation. */
const SOFT_NEGATION = -0.5
const NEGATION_WINDOW = 3
/**
 * An unmet expectation: a sentiment word after "expected", "hoping for" or "could have been" in its clause is what
 * did not happen ("I expected better", "it could have been worse"): it is turned as a negation turns it.
 */
const EXPECTATION = NEGATION
const EXPECTATION_WINDOW = 5
const EXPECTING = new Set(["expected", "expecting", "hoped", "hoping", "wished", "supposed", "anticipated"])
const MODAL_PERFECT = new Set(["could've", "should've", "would've", "might've", "coulda", "shoulda", "woulda"])
const MODALS = new Set(["could", "should", "would", "might", "ought"])
const MODIFIER_WINDOW = 3
const INTENSIFY = 0.3
const DAMPEN = 0.35
/** A modifier two or three words away counts less ("very nice and cosy"). */
const DISTANCE_DECAY = [1, 1, 0.8, 0.6]
/** A word in capitals amid lower-case text is shouted. */
const CAPS = 0.3
const ELONGATION = 0.2
/** Each "!" adds emphasis in the direction the text already leans, up to four of them. */
const EXCLAMATION = 0.3
const MAX_EXCLAMATIONS = 4
/** A question asks rather than asserts: "is it any good?" says less than "it is good". */
const QUESTION = 0.5
/** Before "but" counts less, after it counts more. */
const BEFORE_CONTRAST = 0.5
const AFTER_CONTRAST = 1.5
/** Normalisation: sum / sqrt(sum² + ALPHA) maps the raw sum into (-1, 1). */
const ALPHA = 15
const THRESHOLD = 0.05
/**
 * A sentence's contrast words after this many move no more weight. Real sentences have one or two; each one
 * rescales its whole sentence, so without a bound a run-on text full of "but" costs time quadratic in its length.
 */
const MAX_CONTRASTS_PER_SENTENCE = 8
/**
 * How much of a text is scored: about 8,000 words, longer than a long e-mail or a half-hour call transcript (the
 * longest text of the dev signals is 7,849 characters). Scoring is linear, so this bounds the time and memory one
 * text can take (a few milliseconds), whatever was posted.
 */
export const MAX_SCORED_CHARS = 50_000

export const labelOf = (score: number): SentimentLabel =>
  score > THRESHOLD ? "positive" : score < -THRESHOLD ? "negative" : "neutral"

const squash = (sum: number): number => (sum === 0 ? 0 : sum / Math.sqrt(sum * sum + ALPHA))
const round = (x: number, digits: number): number => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** A "like" is liking when a subject or an adverb precedes it ("I like", "really like"), not "looks like". */
const LIKE_SUBJECTS = new Set([
  "i", "we", "you", "they", "he", "she", "who", "really", "also", "still", "do", "did", "does", "would", "i'd", "we'd",
  "definitely", "totally", "truly", "just", "actually", "genuinely", "absolutely", "both", "all", "kids", "to", "and",
  "much", "quite", "so", "i'll", "always", "especially", "particularly",
])
const LAUGHTER = /^(?:a?h[aeiou])+h?$/
const NON_SPACE = /\S/

// Per-token working state, reused between calls (scoring is synchronous).
let role = new Uint8Array(256)
let base = new Float64Array(256)
let value = new Float64Array(256)
let topic = new Int32Array(256)
let sentence = new Int32Array(256)
/** Whether a modifier was applied to a sentiment word (profanity that was not is loose emphasis). */
let applied = new Uint8Array(256)
const sourceOf: LexiconSource[] = []
const phraseOf: Array<string | undefined> = []
const stems: Array<string | undefined> = []
let sentenceStart = new Int32Array(64)
/** Sentences of the current text (entries of sentenceStart past it belong to older texts). */
let sentenceCount = 0
/** Profane intensifiers of the current text with no sentiment word to modify: emphasis, like "!". */
let looseEmphasis = 0
let looseWord = ""
/** Tokens visited by the passes below, over all texts: lets tests check that the work grows linearly. */
let steps = 0

/** How many token visits scoring has made in this thread so far (a deterministic measure of work). */
export const scoringSteps = (): number => steps

const ensureCapacity = (n: number): void => {
  if (n <= role.length) return
  let size = role.length
  while (size < n) size *= 2
  role = new Uint8Array(size)
  base = new Float64Array(size)
  value = new Float64Array(size)
  topic = new Int32Array(size)
  sentence = new Int32Array(size)
  applied = new Uint8Array(size)
}

const collapse = (word: string, keep: number): string => {
  let out = ""
  let run = 0
  for (let i = 0; i < word.length; i++) {
    const c = word[i]
    run = i > 0 && c === word[i - 1] ? run + 1 : 1
    if (run <= keep) out += c
  }
  return out
}

const isKnown = (word: string): boolean =>
  WORDS.has(word) || INTENSIFIER_SET.has(word) || NEGATOR_SET.has(word) || DAMPENER_SET.has(word)

/** "sooo goood" → "so good": the first of the word, its runs cut to two letters, or to one, that we know. */
const canonical = (word: string, flags: number): string => {
  if ((flags & FLAG_ELONGATED) === 0 || isKnown(word)) return word
  const two = collapse(word, 2)
  if (isKnown(two)) return two
  const one = collapse(word, 1)
  return isKnown(one) ? one : two
}

const INFLECTED = /(?:s|ed|ing|ly|er|est|ies|ied)$/

/** Valence of a single word from the lexicon, falling back to the rated base word with the same Porter stem. */
const wordValence = (word: string, wordStem: string): number => {
  const entry = WORDS.get(word)
  if (entry !== undefined) return entry.valence
  if (word.length > 4 && !NO_STEM.has(word) && INFLECTED.test(word)) return STEMMED_WORDS.get(wordStem) ?? 0
  return 0
}

/** A tenant's own terms: catalogue and process names (valence 0) and phrases of its trade, ahead of the lexicon. */
interface TenantTerms {
  readonly words: ReadonlyMap<string, number>
  readonly phrases: ReadonlyMap<string, PhraseEntry[]>
}

const compileTerms = (terms: Readonly<Record<string, number>> | undefined): TenantTerms | undefined => {
  if (terms === undefined || Object.keys(terms).length === 0) return undefined
  const words = new Map<string, number>()
  const phrases = new Map<string, PhraseEntry[]>()
  for (const [term, valence] of Object.entries(terms)) {
    if (!addPhraseTo(phrases, term, valence, valence === 0 ? ROLE_NONE : ROLE_SENTIMENT, "tenant")) {
      const word = term.trim().toLowerCase()
      if (word !== "") words.set(word, valence)
    }
  }
  return { words, phrases }
}

/** The terms of the scorer now scoring (scoring is synchronous). */
let terms: TenantTerms | undefined

const matchPhrase = (t: Tokens, i: number, head: string): PhraseEntry | undefined =>
  (terms === undefined ? undefined : matchPhraseIn(terms.phrases, t, i, head)) ?? matchPhraseIn(PHRASES, t, i, head)

const matchPhraseIn = (
  table: ReadonlyMap<string, PhraseEntry[]>,
  t: Tokens,
  i: number,
  head: string,
): PhraseEntry | undefined => {
  const candidates = table.get(head)
  if (candidates === undefined) return undefined
  for (const phrase of candidates) {
    const rest = phrase.rest
    let k = 0
    for (; k < rest.length; k++) {
      const j = i + 1 + k
      if (j >= t.count || t.kind[j] !== KIND_WORD) break
      if (stemAt(t, j) !== rest[k]) break
    }
    if (k === rest.length) return phrase
  }
  return undefined
}

const stemAt = (t: Tokens, i: number): string => {
  let s = stems[i]
  if (s === undefined) {
    s = stem(t.text[i] ?? "")
    stems[i] = s
  }
  return s
}

const isBoundary = (r: number): boolean =>
  r === ROLE_BREAK || r === ROLE_SENTENCE_END || r === ROLE_BUT || r === ROLE_ALTHOUGH

/** Pass 1: what each token is (sentiment, negator, modifier, contrast, boundary) and its base valence. */
const assignRoles = (t: Tokens): void => {
  const n = t.count
  let topicIndex = 0
  let sentenceIndex = 0
  sentenceStart[0] = 0
  for (let i = 0; i < n; i++) {
    stems[i] = undefined
    phraseOf[i] = undefined
    base[i] = 0
  }
  steps += n
  for (let i = 0; i < n; i++) {
    steps++
    const kind = t.kind[i] ?? 0
    topic[i] = topicIndex
    sentence[i] = sentenceIndex
    role[i] = ROLE_NONE
    if (kind === KIND_END) {
      role[i] = ROLE_SENTENCE_END
      topicIndex++
      sentenceIndex++
      if (sentenceIndex >= sentenceStart.length) {
        const grown = new Int32Array(sentenceStart.length * 2)
        grown.set(sentenceStart)
        sentenceStart = grown
      }
      sentenceStart[sentenceIndex] = i + 1
      continue
    }
    if (kind === KIND_BREAK) {
      role[i] = ROLE_BREAK
      topicIndex++
      continue
    }
    if (kind === KIND_EMOJI || kind === KIND_EMOTICON) {
      role[i] = ROLE_SENTIMENT
      base[i] = t.value[i] ?? 0
      sourceOf[i] = kind === KIND_EMOJI ? "emoji" : "emoticon"
      continue
    }
    if (kind === KIND_RATING) {
      setRating(i, t.value[i] ?? 0.5)
      continue
    }
    if (kind === KIND_NUMBER) {
      i = numberRating(t, i)
      continue
    }
    const raw = t.text[i] ?? ""
    const word = canonical(raw, t.flags[i] ?? 0)
    const head = word === raw ? stemAt(t, i) : stem(word)
    stems[i] = head
    const phrase = matchPhrase(t, i, head)
    if (phrase !== undefined) {
      role[i] = phrase.role
      base[i] = phrase.valence
      sourceOf[i] = phrase.source
      phraseOf[i] = phrase.text
      for (let k = 1; k <= phrase.rest.length; k++) {
        const j = i + k
        role[j] = ROLE_CONSUMED
        topic[j] = topicIndex
        sentence[j] = sentenceIndex
        base[j] = 0
        stemAt(t, j)
      }
      i += phrase.rest.length
      continue
    }
    if (NEGATOR_SET.has(word) || word.endsWith("n't")) {
      if (!assertingQuestion(t, i)) role[i] = ROLE_NEGATOR
      continue
    }
    if (word === "still" && stillUnmet(t, i)) {
      role[i] = ROLE_SENTIMENT
      base[i] = STILL_UNMET
      sourceOf[i] = "domain"
      continue
    }
    const own = terms?.words.get(word)
    if (own !== undefined) {
      if (own !== 0) {
        role[i] = ROLE_SENTIMENT
        base[i] = own
        sourceOf[i] = "tenant"
      }
      continue
    }
    if (SOFT_NEGATORS.has(word)) {
      role[i] = ROLE_SOFT_NEGATOR
      continue
    }
    const clauseInitial = i === 0 || isBoundary(role[i - 1] ?? 0)
    if (CONTRAST_BUT.has(word) && (word !== "yet" || clauseInitial) && textAt(t, i + 1) !== "also") {
      role[i] = ROLE_BUT
      topicIndex++
      topic[i] = topicIndex
      continue
    }
    // "though" concedes only at the head of a clause ("though it's pricey, ..."), not at its end ("nice though").
    const though = word === "though" || word === "tho"
    if (CONTRAST_ALTHOUGH.has(word) || (though && (clauseInitial || t.text[i - 1] === "even"))) {
      role[i] = ROLE_ALTHOUGH
      topicIndex++
      topic[i] = topicIndex
      continue
    }
    if (word === "and" || word === "while" || word === "plus") {
      topicIndex++
      topic[i] = topicIndex
      continue
    }
    const valence = word === "like" ? likeValence(t, i) : wordValence(word, head)
    if (INTENSIFIER_SET.has(word) || DAMPENER_SET.has(word)) {
      role[i] = INTENSIFIER_SET.has(word) ? ROLE_INTENSIFIER : ROLE_DAMPENER
      // A word such as "pretty" keeps its own valence in case nothing follows for it to modify.
      base[i] = DUAL_ROLE.has(word) && !PROFANE_SET.has(word) ? valence : 0
      sourceOf[i] = "lexicon"
      continue
    }
    const negatedOnly = NEGATED_ONLY_WORDS.get(word)
    if (negatedOnly !== undefined && valence === 0) {
      role[i] = ROLE_NEGATED_ONLY
      base[i] = negatedOnly
      sourceOf[i] = "domain"
      continue
    }
    if (valence !== 0) {
      role[i] = ROLE_SENTIMENT
      base[i] = valence
      sourceOf[i] = WORDS.get(word)?.source ?? "lexicon"
    } else if (raw.length >= 4 && LAUGHTER.test(word)) {
      role[i] = ROLE_SENTIMENT
      base[i] = WORDS.get("haha")?.valence ?? 2
      sourceOf[i] = "slang"
    }
  }
  sentenceCount = sentenceIndex + 1
}

/** "8/10", "4 out of 5", "2 stars": a rating from 0 to 1 becomes a valence from -4 to +4. */
const setRating = (i: number, ratio: number): void => {
  role[i] = ROLE_SENTIMENT
  base[i] = Math.max(-4, Math.min(4, (ratio - 0.5) * 8))
  sourceOf[i] = "rating"
}

/** The token text at `i`, or undefined past the end (the shared buffers hold older, longer texts beyond it). */
const textAt = (t: Tokens, i: number): string | undefined => (i < t.count ? t.text[i] : undefined)

/**
 * "Still" before a negation ("still no sign of it", "it still hasn't arrived", "the refund still has not come"): a
 * wait or a fault that goes on, what complaints about any service are made of, rated as "still waiting" is
 * (COMMERCE_PHRASES). Not before "can't", "don't" or "won't" ("I still can't believe how good it is").
 */
const STILL_UNMET = -1.6
const NEGATIONS_AFTER_STILL = new Set([
  "no", "not", "nothing", "nobody", "never", "hasn't", "haven't", "hadn't", "isn't", "aren't", "wasn't", "weren't", "doesn't",
  "didn't", "hasnt", "havent", "isnt", "arent", "doesnt", "didnt",
])
const AUXILIARIES_AFTER_STILL = new Set(["has", "have", "had", "is", "are", "was", "were", "does", "did"])
const stillUnmet = (t: Tokens, i: number): boolean => {
  const next = textAt(t, i + 1) ?? ""
  return NEGATIONS_AFTER_STILL.has(next) || (AUXILIARIES_AFTER_STILL.has(next) && NEGATIONS_AFTER_STILL.has(textAt(t, i + 2) ?? ""))
}

/**
 * A negative question that opens on an auxiliary and its subject asserts what it asks ("Isn't it lovely?", "Don't you
 * love it?", "Wasn't that awful?"): its "n't" negates nothing. Only at the head of a sentence ending in "?", and only
 * before a subject, so "The view isn't lovely?" and "Isn't lovely at all?" keep their negation. Requests ("Couldn't
 * you ...", "Won't you ...") are left out: they ask for what is missing.
 */
const ASSERTING_AUXILIARIES = new Set(["isn't", "aren't", "wasn't", "weren't", "don't", "doesn't", "didn't", "isnt", "arent", "wasnt", "werent", "dont", "doesnt", "didnt"])
const QUESTION_SUBJECTS = new Set([
  "it", "this", "that", "these", "those", "they", "you", "he", "she", "we", "the", "your", "my", "our", "their", "his", "her", "its",
])
const assertingQuestion = (t: Tokens, i: number): boolean => {
  if (!ASSERTING_AUXILIARIES.has(tokenText(t, i)) || !QUESTION_SUBJECTS.has(textAt(t, i + 1) ?? "")) return false
  if (i > 0 && t.kind[i - 1] !== KIND_END && t.kind[i - 1] !== KIND_BREAK) return false
  for (let j = i + 2; j < t.count; j++) if (t.kind[j] === KIND_END) return t.text[j] === "?"
  return false
}

const numberRating = (t: Tokens, i: number): number => {
  const n = t.value[i] ?? 0
  const next = textAt(t, i + 1)
  if ((next === "stars" || next === "star") && n <= 5 && t.kind[i + 1] === KIND_WORD) {
    setRating(i, n / 5)
    phraseOf[i] = `${t.text[i]} ${next}`
    role[i + 1] = ROLE_CONSUMED
    topic[i + 1] = topic[i] ?? 0
    sentence[i + 1] = sentence[i] ?? 0
    base[i + 1] = 0
    return i + 1
  }
  if (next === "out" && textAt(t, i + 2) === "of" && i + 3 < t.count && t.kind[i + 3] === KIND_NUMBER) {
    const of = t.value[i + 3] ?? 0
    if ((of === 5 || of === 10) && n <= of) {
      setRating(i, n / of)
      phraseOf[i] = `${t.text[i]} out of ${t.text[i + 3]}`
      for (let k = 1; k <= 3; k++) {
        role[i + k] = ROLE_CONSUMED
        topic[i + k] = topic[i] ?? 0
        sentence[i + k] = sentence[i] ?? 0
        base[i + k] = 0
      }
      return i + 3
    }
  }
  return i
}

const likeValence = (t: Tokens, i: number): number => {
  const previous = t.text[i - 1]
  if (previous === undefined || t.kind[i - 1] !== KIND_WORD) return 0
  if (LIKE_SUBJECTS.has(previous) || NEGATOR_SET.has(previous) || previous.endsWith("n't")) {
    return WORDS.get("like")?.valence ?? 0
  }
  return 0
}

/** Does a sentiment word follow `i` closely enough for `i` to modify it? */
const modifiesNext = (t: Tokens, i: number): boolean => {
  for (let j = i + 1; j < t.count && j <= i + 2; j++) {
    const r = role[j] ?? 0
    if (r === ROLE_SENTIMENT || r === ROLE_NEGATED_ONLY) return true
    if (r !== ROLE_INTENSIFIER && r !== ROLE_DAMPENER) return false
  }
  return false
}

/** Is there a sentiment word after `i` that the negator at `negator` still governs? */
const sentimentInScope = (i: number, negator: number, n: number): boolean => {
  for (let j = i + 1, d = i - negator + 1; d <= NEGATION_WINDOW && j < n; j++, d++) {
    const r = role[j] ?? 0
    if (isBoundary(r)) return false
    if (r === ROLE_CONSUMED) d--
    else if (r === ROLE_SENTIMENT) return true
  }
  return false
}

interface Collected {
  evidence: Evidence[] | undefined
}

const note = (c: Collected, token: string, rule: EvidenceRule, weight: number): void => {
  if (c.evidence !== undefined && weight !== 0) c.evidence.push({ token, rule, weight: round(weight, 3) })
}

const tokenText = (t: Tokens, i: number): string => phraseOf[i] ?? t.text[i] ?? ""

/** The token that frames word i as an unmet expectation (see EXPECTATION), or -1: looked for back within the clause. */
const expectationBefore = (t: Tokens, i: number): number => {
  for (let d = 1, j = i - 1; j >= 0 && d <= EXPECTATION_WINDOW; d++, j--) {
    steps++
    const rj = role[j] ?? 0
    if (isBoundary(rj)) return -1
    const word = t.text[j] ?? ""
    if (EXPECTING.has(word) || MODAL_PERFECT.has(word)) return j
    if (word === "have" && MODALS.has(t.text[j - 1] ?? "")) return j - 1
  }
  return -1
}

/** Pass 2: each sentiment token's valence after emphasis, modifiers and negation. */
const applyModifiers = (t: Tokens, c: Collected): void => {
  const n = t.count
  const shouting = t.capsWords > 0 && t.lowerWords > 0
  steps += n
  looseEmphasis = 0
  for (let i = 0; i < n; i++) {
    const r = role[i] ?? 0
    if (r !== ROLE_INTENSIFIER && r !== ROLE_DAMPENER) continue
    if (PROFANE_SET.has(t.text[i] ?? "")) {
      applied[i] = 0
    } else if ((base[i] ?? 0) !== 0 && !modifiesNext(t, i)) {
      role[i] = ROLE_SENTIMENT
    }
  }
  for (let i = 0; i < n; i++) {
    steps++
    value[i] = 0
    const r = role[i] ?? 0
    if (r !== ROLE_SENTIMENT && r !== ROLE_NEGATED_ONLY) continue
    const text = tokenText(t, i)
    const flags = t.flags[i] ?? 0
    let v = base[i] ?? 0
    let negator = -1
    let soft = false
    // Look back within the clause for negators and modifiers.
    for (let d = 1, j = i - 1; j >= 0 && d <= Math.max(NEGATION_WINDOW, MODIFIER_WINDOW); d++, j--) {
      steps++
      const rj = role[j] ?? 0
      if (isBoundary(rj)) break
      if (rj === ROLE_CONSUMED) {
        d--
        continue
      }
      if ((rj === ROLE_NEGATOR || rj === ROLE_SOFT_NEGATOR) && negator < 0 && d <= NEGATION_WINDOW) {
        negator = j
        soft = rj === ROLE_SOFT_NEGATOR
      }
    }
    if (r === ROLE_NEGATED_ONLY) {
      // One negation, counted once: "doesn't work well" is the negated "well", not a complaint plus a negation.
      if (negator < 0 || sentimentInScope(i, negator, n)) continue
      v = soft ? v * 0.6 : v
      note(c, `${t.text[negator]} ${text}`, "negation", v)
      value[i] = v
      continue
    }
    note(c, text, sourceOf[i] ?? "lexicon", v)
    if (shouting && (flags & FLAG_CAPS) !== 0) {
      note(c, text, "caps", v * CAPS)
      v *= 1 + CAPS
    }
    if ((flags & FLAG_ELONGATED) !== 0) {
      note(c, t.text[i] ?? text, "elongation", v * ELONGATION)
      v *= 1 + ELONGATION
    }
    for (let d = 1, j = i - 1; j >= 0 && d <= MODIFIER_WINDOW; d++, j--) {
      steps++
      const rj = role[j] ?? 0
      if (isBoundary(rj)) break
      if (rj === ROLE_CONSUMED) {
        d--
        continue
      }
      if (rj !== ROLE_INTENSIFIER && rj !== ROLE_DAMPENER) continue
      applied[j] = 1
      const decay = DISTANCE_DECAY[d] ?? 0
      let factor = rj === ROLE_INTENSIFIER ? INTENSIFY * decay : -DAMPEN * decay
      // Under negation an intensifier softens instead: "not very good" is milder than "not good".
      if (rj === ROLE_INTENSIFIER && negator >= 0 && negator < j) factor = -factor
      if (shouting && ((t.flags[j] ?? 0) & FLAG_CAPS) !== 0) factor *= 1 + CAPS
      note(c, tokenText(t, j), rj === ROLE_INTENSIFIER ? "intensifier" : "dampener", v * factor)
      v *= 1 + factor
    }
    if (negator >= 0) {
      const factor = soft ? SOFT_NEGATION : NEGATION
      note(c, t.text[negator] ?? "not", "negation", v * factor - v)
      v *= factor
    } else {
      const frame = expectationBefore(t, i)
      if (frame >= 0) {
        note(c, t.text[frame] ?? "expected", "expectation", v * EXPECTATION - v)
        v *= EXPECTATION
        // "hoping" framing what was hoped for is not warmth of its own.
        if ((value[frame] ?? 0) !== 0) {
          note(c, t.text[frame] ?? "", "expectation", -(value[frame] ?? 0))
          value[frame] = 0
        }
      }
    }
    value[i] = v
  }
  for (let i = 0; i < n; i++) {
    if (role[i] !== ROLE_INTENSIFIER || applied[i] !== 0 || !PROFANE_SET.has(t.text[i] ?? "")) continue
    looseEmphasis++
    looseWord = t.text[i] ?? ""
  }
}

/** Pass 3: contrast. "but" shifts weight to what follows it; an "although" clause yields to the main clause. */
const applyContrast = (t: Tokens, c: Collected): void => {
  const n = t.count
  let current = -1
  let contrasts = 0
  steps += n
  for (let i = 0; i < n; i++) {
    const r = role[i] ?? 0
    if (r !== ROLE_BUT && r !== ROLE_ALTHOUGH) continue
    const s = sentence[i] ?? 0
    if (s !== current) {
      current = s
      contrasts = 0
    }
    if (++contrasts > MAX_CONTRASTS_PER_SENTENCE) continue
    const start = sentenceStart[s] ?? 0
    // The sentence's end mark (the token before the next sentence starts), or the end of the text.
    const end = s + 1 < sentenceCount ? (sentenceStart[s + 1] ?? n + 1) - 1 : n
    let delta = 0
    const scale = (from: number, to: number, factor: number): void => {
      if (to > from) steps += to - from
      for (let j = from; j < to; j++) {
        const v = value[j] ?? 0
        if (v === 0) continue
        delta += v * (factor - 1)
        value[j] = v * factor
      }
    }
    if (r === ROLE_BUT) {
      // A sentence that opens with "But" contrasts with the sentence before it.
      let from = start
      if (i === start && s > 0) from = sentenceStart[s - 1] ?? 0
      scale(from, i, BEFORE_CONTRAST)
      scale(i + 1, end, AFTER_CONTRAST)
    } else {
      let clauseEnd = i + 1
      while (clauseEnd < end && !isBoundary(role[clauseEnd] ?? 0)) clauseEnd++
      steps += clauseEnd - i
      scale(i + 1, clauseEnd, BEFORE_CONTRAST)
      scale(start, i, AFTER_CONTRAST)
      scale(clauseEnd, end, AFTER_CONTRAST)
    }
    note(c, t.text[i] ?? "but", "contrast", delta)
  }
}

/** Pass 4: the sentiment of a sentence that ends in "?" is asked about, not asserted, and counts less. */
const applyQuestions = (t: Tokens, c: Collected): void => {
  let from = 0
  steps += t.count
  for (let i = 0; i < t.count; i++) {
    if (t.kind[i] !== KIND_END) continue
    if (t.text[i] === "?") {
      let delta = 0
      for (let j = from; j < i; j++) {
        const v = value[j] ?? 0
        if (v === 0) continue
        delta += v * (QUESTION - 1)
        value[j] = v * QUESTION
      }
      note(c, "?", "question", delta)
    }
    from = i + 1
  }
}

interface AspectHit {
  readonly aspect: number
  /** Sets, not lists: a long text mentions an aspect in thousands of clauses, and each lookup must stay O(1). */
  readonly topics: Set<number>
  readonly terms: Set<string>
}

const tagAspects = (t: Tokens, compiled: CompiledAspects): AspectSentiment[] => {
  // At most one hit per aspect of the taxonomy, so finding one in this list does not grow with the text.
  const hits: AspectHit[] = []
  steps += t.count
  findAspects(stems, t.count, compiled, (aspect, first, last) => {
    let hit = hits.find((h) => h.aspect === aspect)
    if (hit === undefined) {
      hit = { aspect, topics: new Set(), terms: new Set() }
      hits.push(hit)
    }
    hit.topics.add(topic[first] ?? 0)
    let term = t.text[first] ?? ""
    for (let k = first + 1; k <= last; k++) term += ` ${t.text[k] ?? ""}`
    hit.terms.add(term)
  })
  if (hits.length === 0) return []
  const out: AspectSentiment[] = []
  for (const hit of hits) {
    let sum = 0
    steps += t.count
    for (let i = 0; i < t.count; i++) if (hit.topics.has(topic[i] ?? -1)) sum += value[i] ?? 0
    const score = round(squash(sum), 4)
    out.push({ aspect: compiled.names[hit.aspect] ?? "unknown", score, label: labelOf(score), terms: [...hit.terms] })
  }
  return out
}

const unscored = (reason: string, language?: string): SentimentResult => ({
  status: "unscored",
  score: 0,
  label: "neutral",
  evidence: [],
  aspects: [],
  reason,
  ...(language === undefined ? {} : { language }),
  model: MODEL_VERSION,
})

const isSpace = (c: number): boolean => c === 32 || c === 10 || c === 9 || c === 13

/** The first `limit` characters of a long text, ending before a word rather than inside one where it can. */
const beginning = (text: string, limit: number): string => {
  let end = limit
  for (let i = limit; i > limit - 100 && i > 0; i--) {
    if (isSpace(text.charCodeAt(i))) {
      end = i
      break
    }
  }
  // Never split a surrogate pair (an emoji) in two.
  const last = text.charCodeAt(end - 1)
  if (end === limit && last >= 0xd800 && last < 0xdc00) end--
  return text.slice(0, end)
}

/** The result for a text of which only the first `scored` of `total` characters were scored, saying so. */
const truncatedResult = (result: SentimentResult, scored: number, total: number): SentimentResult => {
  const note = `scored the first ${scored} of ${total} characters`
  return {
    ...result,
    reason: result.reason === undefined ? note : `${result.reason} (${note})`,
    truncated: { scoredChars: scored, totalChars: total },
  }
}

const hasContent = (t: Tokens): boolean => {
  for (let i = 0; i < t.count; i++) {
    const kind = t.kind[i]
    if (kind !== KIND_BREAK && kind !== KIND_END) return true
  }
  return false
}

/** Builds a scorer for one configuration; compile once per tenant and reuse it for every text. */
export const createScorer = (options: ScoreOptions = {}): Scorer => {
  const brand = options.brand === undefined ? undefined : compileBrand(options.brand)
  const aspects =
    options.aspects === undefined && options.defaultAspects !== false
      ? defaultAspects
      : compileAspects(options.aspects, options.defaultAspects !== false)
  const withEvidence = options.evidence !== false
  const requireEnglish = options.requireEnglish !== false
  const maxChars = options.maxChars ?? MAX_SCORED_CHARS
  const ownTerms = compileTerms(options.terms)

  const score = (text: string): SentimentResult => {
    if (text.length <= maxChars) return scoreWhole(text)
    const scored = beginning(text, maxChars)
    return truncatedResult(scoreWhole(scored), scored.length, text.length)
  }

  const scoreWhole = (text: string): SentimentResult => {
    if (!NON_SPACE.test(text)) return unscored("empty text")
    const cleaned = cleanText(text, brand)
    const t = tokenize(cleaned)
    if (!hasContent(t)) {
      return unscored(
        cleaned === text
          ? "no words to score"
          : "no text left after removing quoted replies, signatures, links, mentions and brand names",
      )
    }
    const language = detectTokensLanguage(t)
    if (requireEnglish && language !== "en") return unscored(`language not English (${language})`, language)
    ensureCapacity(t.count + 4)
    terms = ownTerms
    const collected: Collected = { evidence: withEvidence ? [] : undefined }
    assignRoles(t)
    applyModifiers(t, collected)
    // Aspects take the sentiment of their own clause, before contrast moves weight between clauses.
    const aspectScores = tagAspects(t, aspects)
    applyContrast(t, collected)
    applyQuestions(t, collected)
    let sum = 0
    for (let i = 0; i < t.count; i++) sum += value[i] ?? 0
    // Emphasis ("!", a loose profanity) strengthens the direction the text already takes; it never sets one.
    if (sum !== 0 && t.exclamations > 0) {
      const boost = Math.sign(sum) * EXCLAMATION * Math.min(t.exclamations, MAX_EXCLAMATIONS)
      note(collected, "!".repeat(Math.min(t.exclamations, MAX_EXCLAMATIONS)), "exclamation", boost)
      sum += boost
    }
    if (sum !== 0 && looseEmphasis > 0) {
      const boost = Math.sign(sum) * EXCLAMATION * Math.min(looseEmphasis, MAX_EXCLAMATIONS)
      note(collected, looseWord, "intensifier", boost)
      sum += boost
    }
    const compound = round(squash(sum), 4)
    return {
      status: "scored",
      score: compound,
      label: labelOf(compound),
      evidence: collected.evidence ?? [],
      aspects: aspectScores,
      language,
      model: MODEL_VERSION,
    }
  }
  return { score, scoreMany: (texts) => texts.map(score) }
}

const defaultScorer = createScorer()
const scorers = new WeakMap<ScoreOptions, Scorer>()

const scorerFor = (options?: ScoreOptions): Scorer => {
  if (options === undefined) return defaultScorer
  let scorer = scorers.get(options)
  if (scorer === undefined) {
    scorer = createScorer(options)
    scorers.set(options, scorer)
  }
  return scorer
}

/**
 * Scores one text. With options, the compiled configuration is cached per options object, so pass the same object
 * each time (or use `createScorer`).
 */
export const score = (text: string, options?: ScoreOptions): SentimentResult => scorerFor(options).score(text)

export const scoreMany = (texts: ReadonlyArray<string>, options?: ScoreOptions): SentimentResult[] =>
  scorerFor(options).scoreMany(texts)
