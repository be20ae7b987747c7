// Emerging topics: the words and two-word phrases that carry more weight (TF-IDF, natural's TfIdf) in the texts of a
// window than in the window before it. Stop words, links, handles and the brand's own names are left out, so what
// surfaces is what people started talking about.
import { cleanText, compileBrand } from "./hygiene.ts"
import { createTfIdf, naturalStopwords } from "./natural.ts"

export interface TopicOptions {
  /** How many topics; default 10. */
  readonly top?: number
  /** A phrase must appear in at least this many texts of the window; default 3. */
  readonly minMentions?: number
  /** The brand's names, handles and hashtags, removed before counting. */
  readonly brand?: ReadonlyArray<string>
  /** More words never to report (a tenant's product line, campaign tags). */
  readonly stopwords?: ReadonlyArray<string>
}

export interface EmergingTopic {
  /** One word or two adjacent words ("zip broke"). */
  readonly phrase: string
  /** Mean TF-IDF per text in the window minus the same in the previous window. */
  readonly score: number
  /** Texts of the window that contain it. */
  readonly mentions: number
  readonly previousMentions: number
  /** Other words and phrases used in (nearly) the same texts. */
  readonly related: ReadonlyArray<string>
}

// Social filler on top of natural's English stop words. Negations stay (they make "not impressed").
const SOCIAL_STOPWORDS = [
  "rt", "amp", "via", "im", "i'm", "ive", "i've", "it's", "its", "dont", "don't", "didn't", "can't", "cant", "won't",
  "that's", "there's", "you're", "just", "really", "anyone", "everyone", "someone", "thing", "things", "thanks",
  "thank", "please", "lol", "yes", "yeah", "ok", "okay", "hi", "hey", "hello", "oh", "will", "one", "new", "got",
  "going", "gonna", "know", "think", "now", "getting", "us", "let", "ever", "even", "back", "though",
  "day", "days", "week", "weeks", "month", "months", "year", "years", "time", "today", "tonight", "yesterday",
  "tomorrow",
  "also", "le", "la", "les", "de", "des", "du", "et", "est", "un", "une", "der", "die", "das", "und", "ist",
  "el", "los", "las", "que", "en", "y",
]
const NEGATIONS = new Set(["not", "no", "never", "nothing", "nobody", "nowhere"])

// A word, or punctuation that ends a phrase (two words either side of a comma are not one phrase).
const TOKEN = /[\p{L}\p{N}][\p{L}\p{N}'’-]*|[.,!?;:()"“”…|/\p{Extended_Pictographic}]+/gu
const WORD_START = /^[\p{L}\p{N}]/u
const DIGITS_ONLY = /^[\d'’-]+$/
const POSSESSIVE = /['’]s$/
const HYPHENS = /^-+|-+$/g
const HANDLE_PREFIX = /^[@#]+/
const TERM_SEPARATOR = /[\s\-_.]+/

export interface TermExtractor {
  /** The distinct unigrams and bigrams of a text. */
  readonly terms: (text: string) => Array<string>
}

export const createTermExtractor = (options: Pick<TopicOptions, "brand" | "stopwords"> = {}): TermExtractor => {
  const brand = options.brand === undefined ? undefined : compileBrand(options.brand)
  const stop = new Set<string>([...naturalStopwords, ...SOCIAL_STOPWORDS])
  for (const word of options.stopwords ?? []) stop.add(word.toLowerCase())
  // The brand's own words ("harbor", "lane", "harborlane") are not topics even when written apart.
  for (const term of options.brand ?? []) {
    const words = term.toLowerCase().replace(HANDLE_PREFIX, "").split(TERM_SEPARATOR).filter((w) => w !== "")
    for (const w of words) stop.add(w)
    stop.add(words.join(""))
  }
  NEGATIONS.forEach((n) => stop.delete(n))

  const terms = (text: string): Array<string> => {
    const out = new Set<string>()
    let previous: string | undefined
    for (const match of cleanText(text, brand).toLowerCase().matchAll(TOKEN)) {
      const raw = match[0]
      if (!WORD_START.test(raw)) {
        previous = undefined
        continue
      }
      const word = raw.replace(POSSESSIVE, "").replace(HYPHENS, "")
      if (word.length < 2 || DIGITS_ONLY.test(word) || stop.has(word)) {
        previous = undefined
        continue
      }
      if (!NEGATIONS.has(word)) out.add(word)
      if (previous !== undefined) out.add(`${previous} ${word}`)
      previous = word
    }
    return [...out]
  }
  return { terms }
}

/** Topics of `current` that rose against `previous` (the texts of the window before), best first. */
export const emergingTopics = (
  current: ReadonlyArray<string>,
  previous: ReadonlyArray<string>,
  options: TopicOptions = {},
): Array<EmergingTopic> => {
  const top = options.top ?? 10
  const minMentions = options.minMentions ?? 3
  if (current.length === 0 || top <= 0) return []
  const extractor = createTermExtractor(options)
  const tfidf = createTfIdf()
  // Which texts of the window hold each term, and in how many texts of the previous window it was. Counted here so
  // natural's idf (which scans every document) runs only for the few terms frequent enough to report.
  const docsCurrent = new Map<string, Array<number>>()
  const dfPrevious = new Map<string, number>()
  current.forEach((text, index) => {
    const terms = extractor.terms(text)
    tfidf.addDocument(terms)
    for (const t of terms) {
      const docs = docsCurrent.get(t)
      if (docs === undefined) docsCurrent.set(t, [index])
      else docs.push(index)
    }
  })
  for (const text of previous) {
    const terms = extractor.terms(text)
    tfidf.addDocument(terms)
    for (const t of terms) dfPrevious.set(t, (dfPrevious.get(t) ?? 0) + 1)
  }

  interface Candidate extends EmergingTopic {
    readonly docs: ReadonlyArray<number>
  }
  const candidates: Array<Candidate> = []
  for (const [phrase, docs] of docsCurrent) {
    const mentions = docs.length
    if (mentions < minMentions) continue
    const previousMentions = dfPrevious.get(phrase) ?? 0
    if (previous.length > 0 && mentions / current.length <= previousMentions / previous.length) continue
    // A term counts once per text, so its TF-IDF in a text is its idf, and the mean over a window is idf × the share
    // of the window's texts that hold it.
    const idf = tfidf.idf(phrase)
    const meanCurrent = (idf * mentions) / current.length
    const meanPrevious = previous.length === 0 ? 0 : (idf * previousMentions) / previous.length
    const score = Math.round((meanCurrent - meanPrevious) * 10_000) / 10_000
    candidates.push({ phrase, score, mentions, previousMentions, related: [], docs })
  }
  const isBigram = (phrase: string) => phrase.includes(" ")
  candidates.sort((a, b) =>
    b.score - a.score || Number(isBigram(b.phrase)) - Number(isBigram(a.phrase)) || b.mentions - a.mentions ||
    (a.phrase < b.phrase ? -1 : 1))

  // Terms used in (nearly) the same texts are one topic ("zip", "broke", "zip broke"): the best-scored one names
  // it, the others are listed as related.
  const chosen: Array<Candidate & { related: Array<string> }> = []
  for (const candidate of candidates) {
    const same = chosen.find((topic) => jaccard(topic.docs, candidate.docs) >= SAME_TOPIC)
    if (same !== undefined) {
      if (same.related.length < MAX_RELATED) same.related.push(candidate.phrase)
      continue
    }
    if (chosen.length >= top) continue
    chosen.push({ ...candidate, related: [] })
  }
  return chosen.map(({ docs: _docs, ...topic }) => topic)
}

/** Share of texts two terms have in common, of the texts either is in. */
const SAME_TOPIC = 0.8
const MAX_RELATED = 5

const jaccard = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  let i = 0
  let j = 0
  let both = 0
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      both++
      i++
      j++
    } else if (a[i]! < b[j]!) i++
    else j++
  }
  return both / (a.length + b.length - both)
}
