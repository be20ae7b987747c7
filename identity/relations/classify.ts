// From a profile's signals to its relationship with the brand: a type, a health score 0-100 and a churn risk 0-1,
// each with the evidence that decided it. `new` (first seen within newDays) and `distant` without any own activity
// are definitions; the other types are scored by a linear model over named signals (features.ts) with shipped
// weights (weights.ts, fitted on generated data no figure is reported on): deterministic, and each decision names the
// signals that pushed it most, with their values (README "Relational intelligence").
import type { RelationsConfig } from "./config.ts"
import { CHURN_FEATURES, daysSinceLastCame, type Feature, overdue, QUIET_DAYS, TYPE_FEATURES, typeScores } from "./features.ts"
import type { Signals } from "./signals.ts"
import { CHURN_WEIGHTS, TYPE_WEIGHTS } from "./weights.ts"

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

/** How many of their usual gaps between visits a regular must be overdue before a quiet spell makes them at_risk. */
const LAPSED_RHYTHMS = 3

const shown = (f: Feature, s: Signals) => {
  const v = f.value(s)
  return `${f.name} ${Number.isInteger(v) ? v : v.toFixed(2)}`
}

/** The signals that set `type` most apart from the runner-up, in words with their values. */
const decidedBy = (s: Signals, type: RelationshipType, runnerUp: RelationshipType) => {
  const a = TYPE_WEIGHTS[type]!.weights
  const b = TYPE_WEIGHTS[runnerUp]!.weights
  return TYPE_FEATURES.map((f) => ({ f, push: ((a[f.name] ?? 0) - (b[f.name] ?? 0)) * f.value(s) }))
    .filter((x) => x.push > 0.1).sort((x, y) => y.push - x.push).slice(0, 3).map((x) => shown(x.f, s))
}

/** The type, with the factors that decided it (most telling first). */
const typeOf = (s: Signals, config: RelationsConfig): { type: RelationshipType; why: Array<string> } => {
  const d = describe(s, config)
  if (s.daysSinceLastActive === null || s.daysSinceFirstActive === null) return { type: "distant", why: ["no activity of their own yet"] }
  if (s.daysSinceFirstActive < config.newDays) {
    return { type: "new", why: [`first active ${plural(s.daysSinceFirstActive, "day")} ago`, d.visits] }
  }
  const ranked = [...typeScores(s) as ReadonlyArray<{ type: RelationshipType; score: number }>].sort((x, y) => y.score - x.score || (x.type < y.type ? -1 : 1))
  const lastCame = daysSinceLastCame(s)
  // Loyal means coming back: a customer the signals call loyal or an advocate who has not come for QUIET_DAYS, and
  // for LAPSED_RHYTHMS times their own usual gap between visits, is at risk whatever else they did (the model learnt
  // at_risk mostly from people who left after a complaint, not from a regular who just stopped).
  const lapsed = lastCame >= QUIET_DAYS && overdue(s) >= LAPSED_RHYTHMS && (ranked[0]!.type === "loyal_quiet" || ranked[0]!.type === "advocate")
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

/** The churn model's terms: each feature with its shipped weight (weights.ts). */
export const CHURN_TERMS: ReadonlyArray<{ readonly name: string; readonly weight: number; readonly value: (s: Signals) => number }> =
  CHURN_FEATURES.map((f) => ({ name: f.name, weight: CHURN_WEIGHTS.weights[f.name] ?? 0, value: f.value }))
const CHURN_BIAS = CHURN_WEIGHTS.bias

const churnOf = (s: Signals) => {
  const z = CHURN_TERMS.reduce((sum, t) => sum + t.weight * t.value(s), CHURN_BIAS)
  return 1 / (1 + Math.exp(-z))
}

/** The churn terms pushing the risk up most, in words with their values. */
const churnFactors = (s: Signals) =>
  CHURN_TERMS.map((t) => ({ t, push: t.weight * t.value(s) })).filter((x) => x.push > 0.2).sort((a, b) => b.push - a.push).slice(0, 2)
    .map(({ t }) => t.name)

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

export const classify = (s: Signals, config: RelationsConfig): Relationship => {
  const { type, why } = typeOf(s, config)
  const churnRisk = Math.round(churnOf(s) * 1000) / 1000
  const healthScore = healthOf(s)
  const d = describe(s, config)
  const pushes = churnFactors(s)
  const factors = [
    ...why, d.sentiment, d.mail, d.channels,
    `churn risk ${churnRisk.toFixed(2)}${pushes.length === 0 ? "" : ` (raised by: ${pushes.join(", ")})`}; ${d.quiet}`,
  ].filter((f) => f !== "")
  return { type, healthScore, churnRisk, factors: [...new Set(factors)] }
}
