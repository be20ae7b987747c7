// Probable duplicates among profiles, for a person to accept or dismiss: never merged automatically. Profiles are
// compared within blocks of similar-sounding names (Double Metaphone), scored on name, e-mail and phone similarity
// (Jaro-Winkler), and each suggestion carries its evidence.
import { createHash } from "node:crypto"
import { createRequire } from "node:module"
import { pauseAt, runSteps, type Steps } from "./slices.ts"

// natural's two measures, loaded on their own: natural's index also loads its storage modules, which read a .env file
// from the working directory into the environment (and would let a stray .env change cdp's settings).
const load = createRequire(import.meta.url)
let measures: { readonly jaroWinkler: (a: string, b: string) => number; readonly metaphone: { readonly process: (word: string) => [string, string] } } | undefined
/** Loaded on first use, so commands that never compare names do not pay for it. */
const natural = () =>
  measures ??= {
    jaroWinkler: load("natural/lib/natural/distance/jaro-winkler_distance") as (a: string, b: string) => number,
    metaphone: new (load("natural/lib/natural/phonetics/double_metaphone") as new () => { process: (word: string) => [string, string] })(),
  }


export interface ProfileSummary {
  readonly profileId: string
  readonly names: ReadonlyArray<string>
  /** Normalised e-mail addresses. */
  readonly emails: ReadonlyArray<string>
  /** E.164 phone numbers. */
  readonly phones: ReadonlyArray<string>
}

export interface Evidence {
  readonly field: "name" | "email" | "phone"
  readonly a: string
  readonly b: string
  readonly similarity: number
}

export interface Suggestion {
  /** Stable for the pair, so a dismissal sticks. */
  readonly id: string
  readonly a: string
  readonly b: string
  readonly score: number
  readonly evidence: ReadonlyArray<Evidence>
}

export interface SuggestionOptions {
  /** Least combined score to suggest (0..1). */
  readonly threshold: number
  /** Least name similarity: a name alone is never enough, but without a close name nothing is suggested. */
  readonly minNameSimilarity: number
  /** Largest block compared pairwise (a very common name is skipped rather than compared quadratically). */
  readonly maxBlock: number
}

export const DEFAULT_SUGGESTION_OPTIONS: SuggestionOptions = { threshold: 0.85, minNameSimilarity: 0.9, maxBlock: 200 }

const fold = (text: string) => text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase().replace(/[^a-z\s'-]/g, " ").replace(/\s+/g, " ").trim()
const localLetters = (email: string) => email.slice(0, email.lastIndexOf("@")).replace(/[^a-z]/g, "")

const best = (field: Evidence["field"], xs: ReadonlyArray<string>, ys: ReadonlyArray<string>, sim: (x: string, y: string) => number) => {
  let top: Evidence | undefined
  for (const x of xs) {
    for (const y of ys) {
      const similarity = sim(x, y)
      if (top === undefined || similarity > top.similarity) top = { field, a: x, b: y, similarity }
    }
  }
  return top
}

const jaroWinkler = (x: string, y: string) => (x === "" || y === "" ? 0 : natural().jaroWinkler(x, y))
/** Two phone numbers of one person differ in country form at most: the last 9 digits decide. */
const phoneSimilarity = (x: string, y: string) => (x.slice(-9) === y.slice(-9) ? 1 : 0)

/** A pair's suggestion id, whichever profile is named first: stable, so a dismissal sticks. */
export const suggestionId = (a: string, b: string): string => {
  const [x, y] = a < b ? [a, b] : [b, a]
  return `sug_${createHash("sha256").update(`${x}\u0000${y}`).digest("base64url").slice(0, 16)}`
}

/** Scores one pair; undefined when the evidence is not enough. */
export const comparePair = (a: ProfileSummary, b: ProfileSummary, options = DEFAULT_SUGGESTION_OPTIONS): Suggestion | undefined => {
  const name = best("name", a.names.map(fold), b.names.map(fold), jaroWinkler)
  if (name === undefined || name.similarity < options.minNameSimilarity) return undefined
  const email = best("email", a.emails, b.emails, (x, y) => jaroWinkler(localLetters(x), localLetters(y)))
  const phone = best("phone", a.phones, b.phones, phoneSimilarity)
  const contact = Math.max(email?.similarity ?? 0, phone?.similarity ?? 0)
  const score = Math.round((0.6 * name.similarity + 0.4 * contact) * 1000) / 1000
  if (score < options.threshold) return undefined
  const [x, y] = a.profileId < b.profileId ? [a.profileId, b.profileId] : [b.profileId, a.profileId]
  return {
    id: suggestionId(x, y),
    a: x, b: y, score,
    evidence: [name, email, phone].filter((e): e is Evidence => e !== undefined && e.similarity > 0),
  }
}

/** Blocking keys of a profile: the sound of each name's last word with the first letter of its first. */
const blockKeys = (p: ProfileSummary): Set<string> => {
  const keys = new Set<string>()
  for (const name of p.names) {
    const words = fold(name).split(" ").filter((w) => w.length > 1)
    if (words.length === 0) continue
    const [primary] = natural().metaphone.process(words[words.length - 1]!)
    keys.add(`${words[0]![0]}:${primary}`)
  }
  return keys
}

/** Probable duplicate pairs among the profiles, best first. */
export const findSuggestions = (profiles: ReadonlyArray<ProfileSummary>, options = DEFAULT_SUGGESTION_OPTIONS): Array<Suggestion> =>
  runSteps(findSuggestionsSteps(profiles, options))

/** findSuggestions in steps (identity/slices.ts): a tenant's profiles are compared while the server runs. */
export function* findSuggestionsSteps(profiles: ReadonlyArray<ProfileSummary>, options = DEFAULT_SUGGESTION_OPTIONS): Steps<Array<Suggestion>> {
  const blocks = new Map<string, Array<ProfileSummary>>()
  let step = 0
  for (const p of profiles) {
    if (pauseAt(step++)) yield
    for (const key of blockKeys(p)) {
      const block = blocks.get(key)
      if (block === undefined) blocks.set(key, [p])
      else block.push(p)
    }
  }
  const found = new Map<string, Suggestion>()
  for (const block of blocks.values()) {
    if (block.length < 2 || block.length > options.maxBlock) continue
    for (let i = 0; i < block.length; i++) {
      for (let j = i + 1; j < block.length; j++) {
        const s = comparePair(block[i]!, block[j]!, options)
        if (s !== undefined) found.set(s.id, s)
        if (pauseAt(step++)) yield
      }
    }
  }
  return [...found.values()].sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : 1))
}
