// Evaluates our scorer against VADER (the `vader-sentiment` port, used here only for comparison) on the human-rated
// sets in /work/shared/data/sentiment, and measures single-core throughput of both on tweet-sized texts.
// Run: node test/bench/sentiment.ts [data dir]
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { createScorer, evaluate, MODEL_VERSION, type Evaluation } from "../../sentiment/index.ts"
import { SENTIMENT_DATA } from "../support/shared.ts"

interface Vader {
  readonly SentimentIntensityAnalyzer: {
    readonly polarity_scores: (text: string) => { readonly compound: number }
  }
}

const vader = createRequire(import.meta.url)("vader-sentiment") as Vader
const vaderScore = (text: string): number => vader.SentimentIntensityAnalyzer.polarity_scores(text).compound

const dataDir = process.argv[2] ?? process.env.CDP_SENTIMENT_DATA ?? SENTIMENT_DATA
const SETS = [
  { name: "product", file: "amazonReviewSnippets_GroundTruth.txt" },
  { name: "movie", file: "movieReviewSnippets_GroundTruth.txt" },
] as const

interface Rated {
  readonly text: string
  readonly rating: number
}

/** `id <TAB> mean rating <TAB> text`, CRLF line ends. */
const load = (file: string): Rated[] =>
  readFileSync(join(dataDir, file), "utf8")
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const [, rating, ...rest] = line.split("\t")
      return { text: rest.join("\t"), rating: Number(rating) }
    })

// Evidence is off for the evaluation and the timing alike: bulk scoring stores only the score.
const ours = createScorer({ evidence: false })
const oursWithEvidence = createScorer()

const fmt = (x: number): string => x.toFixed(3)
const rows: string[][] = [["set", "n", "our r", "our F1w", "VADER r", "VADER F1w", "unscored"]]
const corpus: string[] = []
for (const set of SETS) {
  const items = load(set.file)
  const ratings = items.map((i) => i.rating)
  let unscoredCount = 0
  const ourScores = items.map((i) => {
    const result = ours.score(i.text)
    if (result.status === "unscored") unscoredCount++
    return result.score
  })
  const vaderScores = items.map((i) => vaderScore(i.text))
  const a: Evaluation = evaluate(ourScores, ratings)
  const b: Evaluation = evaluate(vaderScores, ratings)
  rows.push([set.name, String(a.n), fmt(a.r), fmt(a.f1w), fmt(b.r), fmt(b.f1w), String(unscoredCount)])
  for (const i of items) if (i.text.length <= 140) corpus.push(i.text)
}

/** Deterministic pseudo-random numbers, so every run times the same texts. */
const random = (() => {
  let state = 0x9e3779b9
  return (): number => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 0x1_0000_0000
  }
})()

// Tweet-like texts: short rated sentences, some with a mention, a hashtag, a link, an emoji or shouting added.
const EXTRAS = ["@lumenoutfitters ", "#fail ", "https://t.co/abc123 ", "😍 ", "😡 ", "!!! ", "lol ", "smh "]
const TWEETS = 20_000
const tweets: string[] = []
for (let i = 0; i < TWEETS; i++) {
  let text = corpus[Math.floor(random() * corpus.length)] ?? ""
  if (random() < 0.5) text = `${EXTRAS[Math.floor(random() * EXTRAS.length)] ?? ""}${text}`
  if (random() < 0.3) text = `${text} ${EXTRAS[Math.floor(random() * EXTRAS.length)] ?? ""}`
  if (random() < 0.05) text = text.toUpperCase()
  tweets.push(text)
}

const PASSES = 5
const throughput = (fn: (text: string) => unknown): number[] => {
  for (let i = 0; i < 2_000; i++) fn(tweets[i] ?? "") // warm-up
  const rates: number[] = []
  for (let pass = 0; pass < PASSES; pass++) {
    const start = performance.now()
    for (const text of tweets) fn(text)
    rates.push(TWEETS / ((performance.now() - start) / 1000))
  }
  rates.sort((x, y) => x - y)
  return rates
}

const timed = [
  { name: "ours (score only)", rates: throughput((t) => ours.score(t)) },
  { name: "ours (with evidence)", rates: throughput((t) => oursWithEvidence.score(t)) },
  { name: "VADER (vader-sentiment)", rates: throughput(vaderScore) },
]

const table = (cells: string[][]): string => {
  const widths = cells[0]?.map((_, c) => Math.max(...cells.map((row) => (row[c] ?? "").length))) ?? []
  return cells.map((row) => row.map((cell, c) => cell.padStart(widths[c] ?? 0)).join("  ")).join("\n")
}

const avgLength = Math.round(tweets.reduce((n, t) => n + t.length, 0) / tweets.length)
console.log(`sentiment model ${MODEL_VERSION}; VADER = npm vader-sentiment, same sentences, same run\n`)
console.log(table(rows))
console.log(`\nthroughput, one core, ${TWEETS} tweet-like texts (mean ${avgLength} chars), ${PASSES} passes`)
console.log(
  table([
    ["scorer", "best texts/s", "median texts/s"],
    ...timed.map((t) => [t.name, Math.round(t.rates.at(-1) ?? 0).toString(), Math.round(t.rates[PASSES >> 1] ?? 0).toString()]),
  ]),
)
