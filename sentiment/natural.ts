// The one place that loads `natural`: its Porter stemmer, tokenizer, English negation words, stop words, naive Bayes
// classifier and TF-IDF.
import "./quiet-env.ts"
import { createRequire } from "node:module"

/**
 * The part of natural we use. natural's bundled typings pull in a .ts source file that does not compile under this
 * project's settings (erasableSyntaxOnly), so it is loaded through require with this narrow interface instead.
 */
interface Natural {
  readonly PorterStemmer: { readonly stem: (word: string) => string }
  readonly WordTokenizer: new () => { readonly tokenize: (text: string) => string[] }
  readonly negations: { readonly words: ReadonlyArray<string> }
  readonly BayesClassifier: new (stemmer?: undefined, smoothing?: number) => NaturalBayesClassifier
  readonly TfIdf: new () => NaturalTfIdf
  readonly stopwords: ReadonlyArray<string>
}

/** natural's naive Bayes classifier, fed tokens we prepared ourselves (arrays are used as they are). */
export interface NaturalBayesClassifier {
  readonly addDocument: (tokens: ReadonlyArray<string>, label: string) => void
  readonly train: () => void
  /** One value per label, largest first; values are unnormalised (prior times likelihood). */
  readonly getClassifications: (tokens: ReadonlyArray<string>) => ReadonlyArray<{ readonly label: string; readonly value: number }>
}

/** natural's TF-IDF over documents given as token arrays (used as they are: no tokenizing, no stop words). */
export interface NaturalTfIdf {
  readonly addDocument: (tokens: ReadonlyArray<string>, key?: string) => void
  /** 1 + ln(documents / (1 + documents with the term)), cached per term. */
  readonly idf: (term: string) => number
  /** Sum of tf × idf of the terms in document `index`. */
  readonly tfidf: (terms: ReadonlyArray<string>, index: number) => number
}

// Each part from its own module: natural's index also loads its storage modules, which call dotenv at load time and
// so read a .env file from the working directory into process.env (a stranger's .env could change cdp's settings).
const load = createRequire(import.meta.url)
const natural: Natural = {
  PorterStemmer: load("natural/lib/natural/stemmers/porter_stemmer"),
  WordTokenizer: load("natural/lib/natural/tokenizers/regexp_tokenizer").WordTokenizer,
  // The negation list its English SentimentAnalyzer uses, read alone: the analyzer's module loads every language's
  // vocabularies (about 4 MB of JSON, 0.2-0.4 s of every command's start-up) for these four words.
  negations: load("natural/lib/natural/sentiment/English/negations_en.json"),
  BayesClassifier: load("natural/lib/natural/classifiers/bayes_classifier"),
  TfIdf: load("natural/lib/natural/tfidf/tfidf"),
  stopwords: load("natural/lib/natural/util/stopwords").words,
}

/** natural's English negation words ("not", "no", "never", "neither"). */
export const naturalNegations: ReadonlyArray<string> = natural.negations.words

const wordTokenizer = new natural.WordTokenizer()

/** natural's word tokenizer; used off the hot path (taxonomy and phrase lists), never per scored text. */
export const tokenizeWords = (text: string): string[] => wordTokenizer.tokenize(text.toLowerCase())

const STEM_CACHE_LIMIT = 100_000
const stemCache = new Map<string, string>()
/**
 * No lexicon or aspect word is near this long (the longest is 20 letters), and natural's stemmer is quadratic in
 * word length: a longer "word" (a run of letters someone pasted) is its own stem, and is not cached.
 */
const MAX_STEMMED_LENGTH = 64

/**
 * Porter stem of a lower-case word. natural's stemmer costs a few microseconds a word, so results are memoised; the
 * cache is cleared when full rather than tracked per entry, which keeps lookups cheap.
 */
export const stem = (word: string): string => {
  if (word.length > MAX_STEMMED_LENGTH) return word
  let s = stemCache.get(word)
  if (s === undefined) {
    s = natural.PorterStemmer.stem(word)
    if (stemCache.size >= STEM_CACHE_LIMIT) stemCache.clear()
    stemCache.set(word, s)
  }
  return s
}

/** natural's English stop words ("the", "and", "of", ...). */
export const naturalStopwords: ReadonlyArray<string> = natural.stopwords

export const createBayesClassifier = (smoothing?: number): NaturalBayesClassifier =>
  new natural.BayesClassifier(undefined, smoothing)

export const createTfIdf = (): NaturalTfIdf => new natural.TfIdf()
