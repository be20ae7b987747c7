// From a profile's signals to its relationship with the brand: a type, a health score 0-100 and a churn risk 0-1,
// each with the evidence that decided it. `new` (first seen within newDays) and `distant` without any own activity
// are definitions; the other types are scored by boosted trees over named signals (features.ts, boost.ts) shipped in
// weights.ts (fitted on generated data no figure is reported on): deterministic, and each decision names the signals
// that added most to it, with their values (README "Relational intelligence").
import { boostedScores, contributions } from "./boost.ts"
import type { RelationsConfig } from "./config.ts"
import { CHURN_FEATURES, type ChurnFeature, daysSinceLastCame, type Feature, overdue, QUIET_DAYS, TYPE_FEATURES, typeScores } from "./features.ts"
import type { Signals } from "./signals.ts"
import { CHURN_MODEL, TYPE_MODEL } from "./weights.ts"

export const RELATIONSHIP_TYPES = ["advocate", "loyal_quiet", "love_hate", "at_risk", "detractor", "distant", "new"] as const
export type RelationshipType = (typeof RELATIONSHIP_TYPES)[number]

export interface Relationship {
  readonly type: RelationshipType
  readonly healthScore: number
  readonly churnRisk: number
  /** The top factors, in words, with their values: why this type, this health and this risk. */
  readonly factors: ReadonlyArray<string>
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`
const pct = (x: number) => `${Math.round(x * 100)}%`

/** Relative change of the recent window against the previous one (-1 = stopped); null when both are empty. */
const change = (recent: number, previous: number): number | null =>
  previous === 0 ? (recent === 0 ? null : 1) : (recent - previous) / previous

const describe = (s: Signals, config: RelationsConfig) => {
  const w = config.windowDays
  const visitsChange = change(s.visitDaysRecent, s.visitDaysPrevious)
  return {
    visits: `${plural(s.visitDays, "visit day")}, ${plural(s.visitDaysRecent, "day")} in the last ${w} days` +
      (visitsChange === null || s.visitDaysPrevious === 0 ? "" : ` (${visitsChange <= 0 ? "down" : "up"} ${pct(Math.abs(visitsChange))} against the previous ${w} days)`),
    orders: `${plural(s.orders, "order")}${s.spend > 0 ? `, ${s.spend} spent` : ""}` +
      (s.daysSinceLastOrder === null ? "" : `, the last ${plural(s.daysSinceLastOrder, "day")} ago`),
    gone: (days: number) => `no visit or order for ${plural(days, "day")}`,
    quiet: `no activity for ${plural(s.daysSinceLastActive ?? 0, "day")}`,
    complaints: `${plural(s.negative, "negative message")}, ${plural(s.negative + s.otherContacts, "service contact")} that were no praise` +
      (s.troubleRecent > 0 ? ` (${s.troubleRecent} in the last ${w} days)` : "") +
      (s.negativeContacts > 0 ? `, ${s.openComplaints === 0 ? "all resolved" : s.openComplaints === s.negativeContacts ? "none resolved" : `${s.openComplaints} still open`}` : "") +
      (s.negativePublic > 0 ? `, ${s.negativePublic} in public` : ""),
    praise: `${plural(s.praise, "message")} of strong praise${s.strongestPraise === null ? "" : ` (strongest ${s.strongestPraise.toFixed(2)})`}`,
    mail: s.mailDelivered === 0 ? "no mail delivered" : `opened ${pct(s.openRate ?? 0)} of ${plural(s.mailDelivered, "mail")}` +
      (s.mailUnsubscribed > 0 ? `, unsubscribed` : ""),
    sentiment: s.sentimentLevel === null ? "" : `sentiment ${s.sentimentLevel.toFixed(2)}` +
      (s.sentimentTrend === null || Math.abs(s.sentimentTrend) < 0.05 ? "" : `, trending ${s.sentimentTrend > 0 ? "up" : "down"} ${Math.abs(s.sentimentTrend).toFixed(2)}`),
    channels: `${plural(s.channels.length, "channel")}${s.channels.length === 0 ? "" : ` (${s.channels.join(", ")})`}`,
  }
}

/** A first contact whose activity all falls within this many days is short. */
const SHORT_CONTACT_DAYS = 7

/** How many of their usual gaps between visits a regular must be overdue before a quiet spell makes them at_risk. */
const LAPSED_RHYTHMS = 3

/** Days without a visit or an order after which a regular who stopped is at_risk: eight weeks, twice a quiet spell. */
const LAPSED_DAYS = 2 * QUIET_DAYS

const shown = (f: Feature, s: Signals) => {
  const v = f.value(s)
  return `${f.name} ${Number.isInteger(v) ? v : v.toFixed(2)}`
}

/** The signals that set `type` most apart from the runner-up (what each added to one score less the other), in words with their values. */
const decidedBy = (s: Signals, type: RelationshipType, runnerUp: RelationshipType) => {
  const x = TYPE_FEATURES.map((f) => f.value(s))
  const a = contributions(TYPE_MODEL, TYPE_MODEL.classes.indexOf(type), x).byFeature
  const b = contributions(TYPE_MODEL, TYPE_MODEL.classes.indexOf(runnerUp), x).byFeature
  return TYPE_FEATURES.map((f, j) => ({ f, push: a[j]! - b[j]! }))
    .filter((p) => p.push > 0.1).sort((p, q) => q.push - p.push).slice(0, 3).map((p) => shown(p.f, s))
}

/** The type, with the factors that decided it (most telling first). */
const typeOf = (s: Signals, config: RelationsConfig): { type: RelationshipType; why: Array<string> } => {
  const d = describe(s, config)
  if (s.daysSinceLastActive === null || s.daysSinceFirstActive === null) return { type: "distant", why: ["no activity of their own yet"] }
  if (s.daysSinceFirstActive < config.newDays) {
    return { type: "new", why: [`first active ${plural(s.daysSinceFirstActive, "day")} ago`, d.visits] }
  }
  // Distant by definition too: a short first contact (all of it within SHORT_CONTACT_DAYS), nothing since for
  // QUIET_DAYS and no service trouble. The trees, which saw few such people soon after their contact, can call them
  // at_risk; the rule costs 0.001 macro F1 in leave-one-seed-out cross-validation over the training seeds.
  if (s.activeSpanDays <= SHORT_CONTACT_DAYS && s.daysSinceLastActive >= QUIET_DAYS && s.negative + s.otherContacts === 0) {
    return { type: "distant", why: [`a short first contact, then nothing for ${plural(s.daysSinceLastActive, "day")}`, d.visits, d.orders] }
  }
  const ranked = [...typeScores(s) as ReadonlyArray<{ type: RelationshipType; score: number }>].sort((x, y) => y.score - x.score || (x.type < y.type ? -1 : 1))
  const lastCame = daysSinceLastCame(s)
  // Loyal means coming back: a customer the signals call loyal or an advocate who has done nothing of their own for
  // QUIET_DAYS (no visit, order, opened mail or message), not come for LAPSED_DAYS and is LAPSED_RHYTHMS times their
  // own usual gap between visits overdue is at risk (the model learnt at_risk mostly from people who left after a
  // complaint, not from a regular who just stopped). Someone still opening mail or writing in is not gone. Eight weeks,
  // not four: loyal customers take breaks of a month and come back, and calling them at_risk then cost 0.0061 macro F1
  // against the trees alone in leave-one-seed-out cross-validation over the training seeds (train.ts --rules; 20
  // folds, 160 customers changed), eight weeks 0.0006 (32 changed; six weeks 0.0010, 59), as much as the short-contact rule alone.
  const lapsed = lastCame >= LAPSED_DAYS && (s.daysSinceLastActive ?? 0) >= QUIET_DAYS && overdue(s) >= LAPSED_RHYTHMS &&
    (ranked[0]!.type === "loyal_quiet" || ranked[0]!.type === "advocate")
  const type = lapsed ? "at_risk" : ranked[0]!.type
  const evidence: Record<RelationshipType, Array<string>> = {
    advocate: [d.praise, d.orders, d.visits],
    loyal_quiet: [d.visits, d.orders, d.mail],
    love_hate: [d.praise, d.complaints, d.visits, d.orders],
    at_risk: [lastCame >= QUIET_DAYS ? d.gone(lastCame) : d.visits, d.complaints, d.visits, d.orders],
    detractor: [d.complaints, d.orders, d.mail],
    distant: [d.visits, d.orders, d.channels],
    new: [],
  }
  if (lapsed) return { type, why: [...evidence.at_risk, `came back like ${ranked[0]!.type} before`] }
  const why = decidedBy(s, type, ranked[1]!.type)
  return { type, why: [...evidence[type], ...(why.length === 0 ? [] : [`rather than ${ranked[1]!.type}: ${why.join(", ")}`])] }
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x))

/** The churn model's terms: each feature (CHURN_MODEL's trees are over them, in this order), of the signals now and when last seen. */
export const CHURN_TERMS: ReadonlyArray<ChurnFeature> = CHURN_FEATURES

const churnOf = (x: ReadonlyArray<number>) => 1 / (1 + Math.exp(-boostedScores(CHURN_MODEL, x)[0]!))

/** The churn terms that raised the risk most (what each added to the log-odds), in words. */
const churnFactors = (x: ReadonlyArray<number>) => {
  const { byFeature } = contributions(CHURN_MODEL, 0, x)
  return CHURN_TERMS.map((t, j) => ({ t, push: byFeature[j]! })).filter((p) => p.push > 0.2).sort((p, q) => q.push - p.push).slice(0, 2)
    .map(({ t }) => t.name)
}

const healthOf = (s: Signals) => {
  const quiet = s.daysSinceLastActive ?? 90
  const recency = clamp(1 - quiet / 60, 0, 1) * 30
  const frequency = clamp(s.activeWeekShare, 0, 1) * 20
  const commerce = clamp(s.orders / 3, 0, 1) * 15
  const breadth = clamp((s.channels.length - 1) / 2, 0, 1) * 10
  const mail = (s.openRate ?? 0) * 10
  const voice = s.sentimentLevel === null ? 7.5 : ((s.sentimentLevel + 1) / 2) * 15
  return Math.round(clamp(recency + frequency + commerce + breadth + mail + voice - 6 * s.openComplaints, 0, 100))
}

/**
 * The relationship from the signals now; `seen` are the signals as of the day the person was last active
 * (signalsWhenLastSeen: the same when they were active on the day scored), which the churn risk reads all but its
 * recency from, so a silence only ever raises it.
 */
export const classify = (s: Signals, config: RelationsConfig, seen: Signals = s): Relationship => {
  const { type, why } = typeOf(s, config)
  const churnValues = CHURN_TERMS.map((t) => t.value(s, seen))
  const churnRisk = Math.round(churnOf(churnValues) * 1000) / 1000
  const healthScore = healthOf(s)
  const d = describe(s, config)
  const pushes = churnFactors(churnValues)
  const factors = [
    ...why, d.sentiment, d.mail, d.channels,
    `churn risk ${churnRisk.toFixed(2)}${pushes.length === 0 ? "" : ` (raised by: ${pushes.join(", ")})`}; ${d.quiet}`,
  ].filter((f) => f !== "")
  return { type, healthScore, churnRisk, factors: [...new Set(factors)] }
}
