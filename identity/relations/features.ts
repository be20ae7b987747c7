// The numbers the relationship type and the churn risk are computed from: each a signal a marketer reads (visit
// days, orders, praise, open complaints...), put on a scale where equal steps mean about as much (logs of counts,
// counts capped at a few). The boosted trees that combine them are in weights.ts; the names here are what the
// evidence shows, so what a feature added to a score is always read next to its value.
import { type BoostedModel, boostedScores } from "./boost.ts"
import type { Signals } from "./signals.ts"
import { TYPE_MODEL } from "./weights.ts"

export interface Feature {
  readonly name: string
  readonly value: (s: Signals) => number
}

/** Days without a visit or an order after which a customer has gone quiet (writing in is not coming back). */
export const QUIET_DAYS = 28

/** Days since the person last came (a visit or an order), or since they were first seen when they never came. */
export const daysSinceLastCame = (s: Signals) =>
  Math.min(s.daysSinceLastVisit ?? Infinity, s.daysSinceLastOrder ?? Infinity, s.daysSinceFirstActive ?? 90)

const capped = (n: number, max: number) => Math.min(n, max)
const trouble = (s: Signals) => s.negative + s.otherContacts

/** How overdue the next visit is against the person's own rhythm (mean days between visits), capped at 4. */
export const overdue = (s: Signals) =>
  s.meanVisitGapDays === null ? 2 : Math.min(4, (s.daysSinceLastVisit ?? 90) / Math.max(3, s.meanVisitGapDays))

/**
 * Visit days in the recent window against what the person's own earlier visits would give in a window of that
 * length (from their first activity to the window's start); 1 is their usual rhythm, 0 stopped. Half a visit is added
 * on both sides so a newcomer or a rare visitor is not read as a collapse.
 */
export const againstOwnRate = (s: Signals, windowDays = 30) => {
  const earlierDays = Math.max(1, (s.daysSinceFirstActive ?? 0) - windowDays)
  const earlier = (Math.max(0, s.visitDays - s.visitDaysRecent) / earlierDays) * windowDays
  return Math.min(10, (s.visitDaysRecent + 0.5) / (earlier + 0.5))
}

/** `part` of `whole` (0 when there is no whole): shares hold when some of a person's items sit in another profile, counts fall. */
const share = (part: number, whole: number) => (whole === 0 ? 0 : part / whole)

/**
 * Days without own activity against the longest quiet spell the person had before (4 when they never had two active
 * days): above 1, they have never been away this long.
 */
export const silenceAgainstLongestGap = (s: Signals) =>
  s.longestActiveGapDays === null ? 4 : Math.min(4, (s.daysSinceLastActive ?? 90) / Math.max(7, s.longestActiveGapDays))

/** What the relationship type is read from. */
export const TYPE_FEATURES: ReadonlyArray<Feature> = [
  { name: "visit days (log)", value: (s) => Math.log1p(s.visitDays) },
  { name: "orders (log)", value: (s) => Math.log1p(s.orders) },
  { name: "mail opened (log)", value: (s) => Math.log1p(s.mailOpened) },
  { name: "mail delivered (log)", value: (s) => Math.log1p(s.mailDelivered) },
  { name: "share of weeks active", value: (s) => s.activeWeekShare },
  { name: "days since the last visit or order (log)", value: (s) => Math.log1p(daysSinceLastCame(s)) },
  { name: "days since any activity (log)", value: (s) => Math.log1p(s.daysSinceLastActive ?? 90) },
  { name: "months since first active", value: (s) => (s.daysSinceFirstActive ?? 0) / 30 },
  { name: "messages of strong praise", value: (s) => capped(s.praise, 3) },
  { name: "negative messages", value: (s) => capped(s.negative, 3) },
  { name: "service contacts neither praise nor negative", value: (s) => capped(s.otherContacts, 3) },
  { name: "service contacts scoring low", value: (s) => capped(s.lukewarmContacts, 3) },
  { name: "open complaints", value: (s) => capped(s.openComplaints, 3) },
  { name: "no visit since the first contact that was no praise", value: (s) => (s.visitDaysSinceTrouble === 0 ? 1 : 0) },
  { name: "visit days before the first contact that was no praise (log)", value: (s) => Math.log1p(s.visitDaysBeforeTrouble ?? s.visitDays) },
  { name: "sentiment level", value: (s) => s.sentimentLevel ?? 0 },
  { name: "unsubscribed", value: (s) => (s.mailUnsubscribed > 0 ? 1 : 0) },
  { name: "visit days in the recent window (log)", value: (s) => Math.log1p(s.visitDaysRecent) },
  { name: "negative public posts", value: (s) => capped(s.negativePublic, 3) },
  { name: "messages written", value: (s) => capped(s.texts, 5) },
  { name: "strongest praise", value: (s) => s.strongestPraise ?? 0 },
  { name: "strongest complaint", value: (s) => s.strongestComplaint ?? 0 },
  { name: "praise and a low-scoring or negative contact", value: (s) => (s.praise > 0 && s.negative + s.lukewarmContacts > 0 ? 1 : 0) },
  { name: "gone quiet after a contact that was no praise", value: (s) => (daysSinceLastCame(s) >= QUIET_DAYS && trouble(s) > 0 ? 1 : 0) },
  { name: "positive messages", value: (s) => capped(s.positive, 4) },
  { name: "days from the first to the last activity (log)", value: (s) => Math.log1p(s.activeSpanDays) },
  { name: "visit days since the first contact that was no praise (log)", value: (s) => Math.log1p(s.visitDaysSinceTrouble ?? s.visitDays) },
  { name: "visit days in the window before the recent one (log)", value: (s) => Math.log1p(s.visitDaysPrevious) },
  { name: "active days (log)", value: (s) => Math.log1p(s.activeDays) },
  { name: "mail clicked (log)", value: (s) => Math.log1p(s.mailClicked) },
  { name: "overdue against their rhythm", value: overdue },
  { name: "visits in the recent window against their own earlier rate", value: againstOwnRate },
  { name: "sentiment trend", value: (s) => s.sentimentTrend ?? 0 },
  { name: "days since the last complaint", value: (s) => Math.min(s.daysSinceLastComplaint ?? 120, 120) },
  { name: "orders in the recent window", value: (s) => capped(s.ordersRecent, 5) },
  { name: "share of mail opened", value: (s) => s.openRate ?? 0 },
  { name: "negative service contacts", value: (s) => capped(s.negativeContacts, 3) },
  { name: "channels acted on", value: (s) => s.channels.length },
  { name: "days in the recent window with contact but no visit", value: (s) => Math.max(0, s.activeDaysRecent - s.visitDaysRecent) },
  { name: "share of messages that were strong praise", value: (s) => share(s.praise, s.texts) },
  { name: "share of messages that were negative", value: (s) => share(s.negative, s.texts) },
  { name: "share of service contacts that were negative", value: (s) => share(s.negativeContacts, s.serviceContacts) },
  { name: "share of negative messages made in public", value: (s) => share(s.negativePublic, s.negative) },
  { name: "sentiment spread", value: (s) => s.sentimentSpread ?? 0 },
  { name: "tone flips between praise and complaint", value: (s) => capped(s.sentimentFlips, 4) },
  { name: "sentiment of the later half against the earlier", value: (s) => (s.sentimentLate ?? 0) - (s.sentimentEarly ?? 0) },
  { name: "sentiment before the first contact that was no praise", value: (s) => s.sentimentBeforeTrouble ?? 0 },
  { name: "visit days a week before the first contact that was no praise", value: (s) => s.visitRateBeforeTrouble ?? -1 },
  { name: "orders per visit day", value: (s) => Math.min(2, share(s.orders, s.visitDays)) },
  { name: "silence against their longest earlier gap", value: silenceAgainstLongestGap },
  { name: "days since they last wrote or called (log)", value: (s) => Math.log1p(s.daysSinceLastMessage ?? 365) },
]

const valuesOf = (features: ReadonlyArray<Feature>, s: Signals) => features.map((f) => f.value(s))

const scoreCache = new WeakMap<Signals, { readonly model: BoostedModel; readonly scores: ReadonlyArray<number>; probabilities?: ReadonlyArray<number> }>()

const TYPE_FEATURE_BY_NAME = new Map(TYPE_FEATURES.map((f) => [f.name, f]))

/** The values a type model reads, by the names it states (a model fitted on fewer signals reads only those). */
const typeValuesOf = (model: BoostedModel, s: Signals) =>
  model === TYPE_MODEL ? valuesOf(TYPE_FEATURES, s) : model.features.map((name) => TYPE_FEATURE_BY_NAME.get(name)!.value(s))

/** The type scores of one profile's signals, computed once: the type, its evidence and the churn model all read them. */
const cachedScores = (s: Signals, model: BoostedModel) => {
  let cached = scoreCache.get(s)
  if (cached === undefined || cached.model !== model) {
    cached = { model, scores: boostedScores(model, typeValuesOf(model, s)) }
    scoreCache.set(s, cached)
  }
  return cached
}

/** Each scored type's score from the signals (the sum of its trees); the highest names the type. */
export const typeScores = (s: Signals, model: BoostedModel = TYPE_MODEL): ReadonlyArray<{ readonly type: string; readonly score: number }> => {
  const { scores } = cachedScores(s, model)
  return model.classes.map((type, c) => ({ type, score: scores[c]! }))
}

/** How much the signals look like `type` (0-1): the softmax of the type scores (a weak map: nothing outlives the signals). */
export const likeness = (s: Signals, type: string, model: BoostedModel = TYPE_MODEL) => {
  const cached = cachedScores(s, model)
  if (cached.probabilities === undefined) {
    const top = Math.max(...cached.scores)
    const e = cached.scores.map((x) => Math.exp(x - top))
    const sum = e.reduce((a, b) => a + b, 0)
    cached.probabilities = e.map((x) => x / sum)
  }
  const c = model.classes.indexOf(type)
  return c < 0 ? 0 : cached.probabilities[c]!
}

const LIKENESS_TYPES = ["advocate", "loyal_quiet", "love_hate", "at_risk", "detractor", "distant"]

/** How much the person looks like a type that drifts away (at_risk, detractor, distant), 0-1. */
const leaving = (s: Signals, model: BoostedModel) => likeness(s, "at_risk", model) + likeness(s, "detractor", model) + likeness(s, "distant", model)

/** A churn signal, read from the signals now and from those of the day the person was last active (signalsWhenLastSeen). */
export interface ChurnFeature {
  readonly name: string
  readonly value: (now: Signals, seen: Signals) => number
}

/** A churn signal of what the person was like when last seen: a silence does not move it. */
const whenSeen = (f: Feature): ChurnFeature => ({ name: f.name, value: (_now, seen) => f.value(seen) })

/**
 * What the churn risk is read from: recency, frequency and spread of visits, mail, praise and complaints, and how
 * much the person looks like each relationship type (a relationship read from the data is what tells someone drifting
 * away from someone who was never close). `model` is the type model those likenesses come from.
 *
 * Only the first seven read the signals now: how long the person has been away, against their own rhythm and their
 * longest earlier gap, and their visits in the recent window. Each only grows (or, for visits, only falls) while they
 * stay away, and the trees are monotone in each (train.ts CHURN_DIRECTIONS); every other signal is read as of the
 * day they were last active, which a silence does not change. So the risk never falls while a person stays away.
 */
export const churnFeatures = (model: BoostedModel = TYPE_MODEL): ReadonlyArray<ChurnFeature> => [
  { name: "days since the last visit (log)", value: (s) => Math.log1p(s.daysSinceLastVisit ?? 90) },
  { name: "days since any activity (log)", value: (s) => Math.log1p(s.daysSinceLastActive ?? 90) },
  { name: "overdue against their rhythm", value: (s) => overdue(s) },
  { name: "visit days in the recent window (log)", value: (s) => Math.log1p(s.visitDaysRecent) },
  { name: "silence against their longest earlier gap", value: (s) => silenceAgainstLongestGap(s) },
  // The same silence means more from someone who looked like leaving than from a regular between two visits: how
  // overdue they are against their own rhythm, weighed by how much they looked like each kind of customer.
  { name: "overdue, as far as they look like at_risk, detractor or distant", value: (s, seen) => overdue(s) * leaving(seen, model) },
  { name: "overdue, as far as they look like advocate, loyal_quiet or love_hate", value: (s, seen) => overdue(s) * (1 - leaving(seen, model)) },
  ...[
    { name: "visit days (log)", value: (s: Signals) => Math.log1p(s.visitDays) },
    { name: "share of weeks active", value: (s: Signals) => s.activeWeekShare },
    { name: "mail opened (log)", value: (s: Signals) => Math.log1p(s.mailOpened) },
    { name: "unsubscribed", value: (s: Signals) => (s.mailUnsubscribed > 0 ? 1 : 0) },
    { name: "praised the brand", value: (s: Signals) => (s.praise > 0 ? 1 : 0) },
    { name: "open complaints", value: (s: Signals) => capped(s.openComplaints, 3) },
    { name: "months since first active", value: (s: Signals) => (s.daysSinceFirstActive ?? 0) / 30 },
    {
      name: "days in the recent window with contact but no visit (log)",
      value: (s: Signals) => Math.log1p(Math.max(0, s.activeDaysRecent - s.visitDaysRecent)),
    },
    { name: "sentiment trend", value: (s: Signals) => s.sentimentTrend ?? 0 },
    { name: "orders in the recent window", value: (s: Signals) => capped(s.ordersRecent, 5) },
    { name: "visit days in the window before the recent one (log)", value: (s: Signals) => Math.log1p(s.visitDaysPrevious) },
    { name: "visits in the recent window against their own earlier rate", value: (s: Signals) => againstOwnRate(s) },
    { name: "active days in the recent window against the window before", value: (s: Signals) => (s.activeDaysRecent + 0.5) / (s.activeDaysPrevious + 0.5) },
    { name: "share of mail opened, recent window minus the one before", value: (s: Signals) => (s.openRateRecent ?? -1) - (s.openRatePrevious ?? -1) },
    { name: "service contacts that were no praise in the recent window", value: (s: Signals) => capped(s.troubleRecent, 3) },
    { name: "share of messages that were negative", value: (s: Signals) => share(s.negative, s.texts) },
    { name: "days since the last complaint", value: (s: Signals) => Math.min(s.daysSinceLastComplaint ?? 120, 120) },
    ...LIKENESS_TYPES.map((type): Feature => ({ name: `looks like ${type}`, value: (s) => likeness(s, type, model) })),
  ].map(whenSeen),
]

export const CHURN_FEATURES = churnFeatures()
