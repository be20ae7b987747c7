// Spam and bait among brand mentions (follower selling, counterfeits, giveaway bait, deal-site links, money scams),
// so they do not count as what customers say. Explainable rules decide the clear cases; natural's naive Bayes
// classifier, trained on a small hand-written set shipped beside this file, adds weight for phrasings no rule knows.
import { readFileSync } from "node:fs"
import { compileBrand } from "./hygiene.ts"
import { createBayesClassifier, naturalStopwords, stem, type NaturalBayesClassifier } from "./natural.ts"

/** What the rules and the classifier look at; all of it is in the event's properties, traits and text. */
export interface MentionFeatures {
  readonly text: string
  /** Expanded link targets. */
  readonly urls?: ReadonlyArray<string>
  readonly hashtags?: number
  readonly mentions?: number
  /** Author's follower count, when the network says it. */
  readonly followers?: number | undefined
  /** Likes + reposts + replies + quotes. */
  readonly engagement?: number
  readonly authorDescription?: string
  readonly handle?: string
}

export type SpamReason =
  | "deal_link"
  | "promo_text"
  | "bait_text"
  | "promo_author"
  | "promo_handle"
  | "tag_stuffing"
  | "low_reach_link"
  | "classifier"

export interface SpamVerdict {
  readonly spam: boolean
  /** Sum of the weights of what fired; spam from 1 up. */
  readonly score: number
  /** The classifier's probability that the text is spam. */
  readonly probability: number
  readonly reasons: ReadonlyArray<SpamReason>
}

export interface TrainingExample {
  readonly text: string
  readonly label: "spam" | "ham"
}

export interface SpamFilterOptions {
  /** The brand's names and handles, so a text naming it reads like the training texts' "{brand}". */
  readonly brand?: ReadonlyArray<string>
  /** Replaces the shipped training set. */
  readonly training?: ReadonlyArray<TrainingExample>
}

export interface SpamFilter {
  readonly check: (mention: MentionFeatures) => SpamVerdict
  /** The classifier alone: probability that a text is spam. */
  readonly probability: (text: string) => number
}

/** Weights: a strong rule alone marks spam (1); weaker signals must add up. */
const WEIGHTS: Readonly<Record<SpamReason, number>> = {
  deal_link: 1,
  promo_text: 1,
  bait_text: 0.5,
  promo_author: 0.6,
  promo_handle: 0.3,
  tag_stuffing: 0.4,
  low_reach_link: 0.3,
  classifier: 1,
}
const SPAM_AT = 1
/**
 * The classifier adds weight only when fairly sure: nothing up to CLASSIFIER_FROM, growing linearly to its full
 * weight (enough alone) at CLASSIFIER_SURE.
 */
const CLASSIFIER_FROM = 0.6
const CLASSIFIER_SURE = 0.95

// Link targets of deal, coupon and counterfeit sites: a host label that says so ("coupons.example.org").
const DEAL_HOST = /(?:^|[.-])(?:deals?|promos?|coupons?|discounts?|outlet|replicas?|cheap\w*|bargains?|freebies?|giveaways?|vouchers?|clearance|wholesale|followers?|likes?)(?:[.-]|$)/i
const URL_HOST = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([^/?#:\s]+)/i

// Things a customer does not write about a brand they bought from.
const PROMO_TEXT = new RegExp(
  [
    String.raw`\b(?:buy|gain|get|grow|boost)\b[^.!?\n]{0,30}\b(?:followers|likes|views|retweets|audience)\b`,
    String.raw`\bfollowers (?:fast|instantly|cheap|guaranteed)\b`,
    String.raw`\breplicas?\b`, String.raw`\bknock-?offs?\b`, String.raw`\b1:1 (?:quality|copy|copies)\b`,
    String.raw`\baaa quality\b`, String.raw`\bfactory prices?\b`,
    String.raw`\bdm (?:us |me )?for (?:promo|prices?|deals?|collabs?|the secret)\b`,
    String.raw`\bfollow\s*(?:\+|&|and)\s*(?:rt|retweet)\b`, String.raw`\b(?:rt|retweet)\s*(?:\+|&|and)\s*follow\b`,
    String.raw`\bwin an? (?:free )?\$?\d*\s*(?:gift ?card|voucher|iphone|shopping spree)\b`,
    String.raw`\bclaim (?:your|a) (?:free|prize|reward|voucher)`,
    String.raw`\b(?:airdrop|crypto signals|forex)\b`, String.raw`\bearn \$\d+`, String.raw`\bmake money (?:online|fast|from home)\b`,
  ].join("|"),
  "i",
)
const BAIT_TEXT = new RegExp(
  [
    String.raw`\bup to \d{2}\s?% off\b`, String.raw`\b[5-9]\d\s?% off\b`, String.raw`\blimited (?:stock|offer|spots)\b`,
    String.raw`\blink in (?:bio|profile)\b`, String.raw`\bclick (?:the |this )?link\b`, String.raw`\btap the link\b`,
    String.raw`\bgiveaway\b`, String.raw`\bfree shipping worldwide\b`, String.raw`\btoday only\b`, String.raw`\bcheck my (?:profile|bio)\b`,
  ].join("|"),
  "i",
)
// An author who describes themselves by what bots sell: deals, promo codes, followers, counterfeits, money schemes.
const PROMO_AUTHOR = /\b(?:deals?|promos?|promo codes?|discount codes?|coupons?|giveaways?|followers? (?:fast|cheap)|crypto|nft|forex|cheap \w+|wholesale|replicas?)\b/i
const PROMO_HANDLE = /^@?(?:sale|promo|deal|coupon|discount|bargain|outlet|free|giveaway|cheap)[a-z_]*\d{3,}$/i

// Classifier input: links, handles, amounts and shouting become shared tokens, so "$19" and "$500" look alike.
const URL_IN_TEXT = /(?:\bhttps?:\/\/|\bwww\.)[^\s<>"]+/gi
const MENTION_IN_TEXT = /(^|[^\w@])@\w+/g
const BRAND_PLACEHOLDER = /\{brand\}/gi
const MONEY = /[$€£]\s?\d[\d,.]*k?|\d[\d,.]*\s?(?:[$€£]|usd|eur|gbp)\b/gi
const PERCENT = /\d+\s?%/g
const NUMBER = /\b\d[\d,.]*k?\b/gi
const EXCLAIM = /!{2,}/g
const PROMO_EMOJI = /[\u{1F525}\u{1F4AF}\u{1F381}\u{1F449}\u{1F447}\u{1F680}\u{1F4B0}\u{1F4B8}\u{1F6A8}\u{1F389}\u{1F3B0}]/gu
const WORD = /[\p{L}][\p{L}\p{N}']*|[a-z]+token/gu

const STOP = new Set(naturalStopwords)

const normalise = (text: string, brand: RegExp | undefined): string => {
  let out = text.replace(BRAND_PLACEHOLDER, " brandtoken ")
  if (out.includes("://") || out.includes("www.")) out = out.replace(URL_IN_TEXT, " urltoken ")
  if (brand !== undefined) out = out.replace(brand, " brandtoken ")
  if (out.includes("@")) out = out.replace(MENTION_IN_TEXT, "$1 mentiontoken ")
  return out
    .replace(MONEY, " moneytoken ")
    .replace(PERCENT, " percenttoken ")
    .replace(NUMBER, " numtoken ")
    .replace(EXCLAIM, " exclaimtoken ")
    .replace(PROMO_EMOJI, " emojitoken ")
}

/** The classifier's tokens of a text: lower-cased, placeholders for links and amounts, stop words out, stemmed. */
export const spamTokens = (text: string, brand?: RegExp): Array<string> => {
  const tokens: Array<string> = []
  for (const match of normalise(text, brand).toLowerCase().matchAll(WORD)) {
    const word = match[0]
    if (word.endsWith("token")) tokens.push(word)
    else if (word.length > 1 && !STOP.has(word)) tokens.push(stem(word))
  }
  return tokens
}

const TRAINING_FILE = new URL("./data/spam-training.json", import.meta.url)

let shipped: ReadonlyArray<TrainingExample> | undefined

/** The hand-written training set shipped in sentiment/data/spam-training.json. */
export const shippedTraining = (): ReadonlyArray<TrainingExample> =>
  (shipped ??= (JSON.parse(readFileSync(TRAINING_FILE, "utf8")) as { examples: ReadonlyArray<TrainingExample> }).examples)

interface Trained {
  readonly classifier: NaturalBayesClassifier
  /** Tokens seen in training. Others are left out: unseen tokens carry no evidence, yet the smoothing would tilt
   * each of them towards the class with fewer examples. */
  readonly vocabulary: ReadonlySet<string>
}

const train = (examples: ReadonlyArray<TrainingExample>): Trained => {
  const classifier = createBayesClassifier()
  const vocabulary = new Set<string>()
  for (const e of examples) {
    const tokens = spamTokens(e.text)
    for (const t of tokens) vocabulary.add(t)
    if (tokens.length > 0) classifier.addDocument(tokens, e.label)
  }
  classifier.train()
  return { classifier, vocabulary }
}

let defaultClassifier: Trained | undefined

const hostOf = (url: string): string => URL_HOST.exec(url)?.[1] ?? ""

/** Rules and classifier together; build once per report (training takes a few milliseconds), reuse per mention. */
export const createSpamFilter = (options: SpamFilterOptions = {}): SpamFilter => {
  const { classifier, vocabulary } = options.training === undefined
    ? (defaultClassifier ??= train(shippedTraining()))
    : train(options.training)
  const brand = options.brand === undefined ? undefined : compileBrand(options.brand)

  const probability = (text: string): number => {
    const tokens = spamTokens(text, brand).filter((t) => vocabulary.has(t))
    if (tokens.length === 0) return 0
    let spam = 0
    let total = 0
    for (const c of classifier.getClassifications(tokens)) {
      total += c.value
      if (c.label === "spam") spam = c.value
    }
    return total > 0 ? spam / total : 0
  }

  const check = (m: MentionFeatures): SpamVerdict => {
    const reasons: Array<SpamReason> = []
    const urls = m.urls ?? []
    if (urls.some((u) => DEAL_HOST.test(hostOf(u)))) reasons.push("deal_link")
    if (PROMO_TEXT.test(m.text)) reasons.push("promo_text")
    if (BAIT_TEXT.test(m.text)) reasons.push("bait_text")
    if (m.authorDescription !== undefined && PROMO_AUTHOR.test(m.authorDescription)) reasons.push("promo_author")
    if (m.handle !== undefined && PROMO_HANDLE.test(m.handle)) reasons.push("promo_handle")
    if ((m.hashtags ?? 0) >= 5 || (m.mentions ?? 0) >= 5) reasons.push("tag_stuffing")
    // A link from an account almost nobody follows, and nobody engaged with: how bots post.
    if (urls.length > 0 && m.followers !== undefined && m.followers < 20 && (m.engagement ?? 0) === 0) {
      reasons.push("low_reach_link")
    }
    let score = 0
    for (const r of reasons) score += WEIGHTS[r]
    const p = probability(m.text)
    if (p > CLASSIFIER_FROM) {
      reasons.push("classifier")
      score += WEIGHTS.classifier * Math.min(1, (p - CLASSIFIER_FROM) / (CLASSIFIER_SURE - CLASSIFIER_FROM))
    }
    return { spam: score >= SPAM_AT, score: Math.round(score * 1000) / 1000, probability: p, reasons }
  }

  return { check, probability }
}
