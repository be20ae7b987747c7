// From a profile's signals to its relationship with the brand: a type, a health score 0-100 and a churn risk 0-1,
// each with the evidence that decided it. Deterministic rules a marketer can read (README "Relational
// intelligence"), checked in order; the first that holds names the type.
import type { RelationsConfig } from "./config.ts"
import type { Signals } from "./signals.ts"

export const RELATIONSHIP_TYPES = ["advocate", "loyal_quiet", "love_hate", "at_risk", "detractor", "distant", "new"] as const
export type RelationshipType = (typeof RELATIONSHIP_TYPES)[number]

export interface Relationship {
  readonly type: RelationshipType
  readonly healthScore: number
  readonly churnRisk: number
  /** The top factors, in words, with their values: why this type, this health and this risk. */
  readonly factors: ReadonlyArray<string>
}

/** Days without a visit or an order after which a customer has gone quiet (writing in is not coming back). */
const QUIET_DAYS = 28

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`
const pct = (x: number) => `${Math.round(x * 100)}%`

/** Relative change of the recent window against the previous one (-1 = stopped); null when both are empty. */
const change = (recent: number, previous: number): number | null =>
  previous === 0 ? (recent === 0 ? null : 1) : (recent - previous) / previous

/** How engaged someone is, from what they do rather than what they say: visits spread over time and orders. */
const engaged = (s: Signals) => s.visitDays >= 4 || s.orders >= 2 || (s.visitDays >= 3 && s.orders >= 1)

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

/** The type, with the factors that decided it (most telling first). */
const typeOf = (s: Signals, config: RelationsConfig): { type: RelationshipType; why: Array<string> } => {
  const d = describe(s, config)
  if (s.daysSinceLastActive === null || s.daysSinceFirstActive === null) return { type: "distant", why: ["no activity of their own yet"] }
  if (s.daysSinceFirstActive < config.newDays) {
    return { type: "new", why: [`first active ${plural(s.daysSinceFirstActive, "day")} ago`, d.visits] }
  }
  // Gone quiet: no visit (or order) for QUIET_DAYS; writing in is not coming back.
  const lastCame = Math.min(s.daysSinceLastVisit ?? Infinity, s.daysSinceLastOrder ?? Infinity, s.daysSinceFirstActive)
  const gone = lastCame >= QUIET_DAYS
  // Contacts that were no praise: complaints, and problems or questions told flatly.
  const trouble = s.negative + s.otherContacts
  const mixed = s.negative > 0 || s.lukewarmContacts > 0
  if (s.praise > 0 && mixed && (engaged(s) || trouble >= 2)) return { type: "love_hate", why: [d.praise, d.complaints, d.visits, d.orders] }
  if (s.praise === 0) {
    // One or two problems and then silence is someone leaving; someone who keeps complaining is a detractor.
    if (gone && trouble <= 2 && (engaged(s) || trouble >= 1)) return { type: "at_risk", why: [d.gone(lastCame), d.complaints, d.visits, d.orders] }
    if (s.negative >= 1 || (trouble >= 2 && !engaged(s))) return { type: "detractor", why: [d.complaints, d.orders, d.mail] }
  }
  if (engaged(s) && gone && s.praise === 0) return { type: "at_risk", why: [d.gone(lastCame), d.visits, d.orders, d.mail] }
  if (s.praise > 0 && engaged(s)) return { type: "advocate", why: [d.praise, d.orders, d.visits] }
  if (engaged(s)) return { type: "loyal_quiet", why: [d.visits, d.orders, d.mail] }
  return { type: "distant", why: [d.visits, d.orders, d.channels] }
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x))

/** How overdue the next visit is against the person's own rhythm (mean days between visits), capped at 4. */
const overdue = (s: Signals) =>
  s.meanVisitGapDays === null ? 2 : Math.min(4, (s.daysSinceLastVisit ?? 90) / Math.max(3, s.meanVisitGapDays))

/**
 * Churn risk 0-1: a logistic of recency, frequency and spread of visits, mail engagement, praise and trouble. The
 * weights are round numbers set by hand (README "Relational intelligence"); each term is a factor that can be shown.
 */
export const CHURN_TERMS: ReadonlyArray<{ readonly name: string; readonly weight: number; readonly value: (s: Signals) => number }> = [
  { name: "days since the last visit (log)", weight: 0.35, value: (s) => Math.log1p(s.daysSinceLastVisit ?? 90) },
  { name: "days since any activity (log)", weight: 0.3, value: (s) => Math.log1p(s.daysSinceLastActive ?? 90) },
  { name: "overdue against their rhythm", weight: 0.45, value: overdue },
  { name: "visit days (log)", weight: -0.6, value: (s) => Math.log1p(s.visitDays) },
  { name: "share of weeks active", weight: -1, value: (s) => s.activeWeekShare },
  { name: "mail opened (log)", weight: -0.5, value: (s) => Math.log1p(s.mailOpened) },
  { name: "unsubscribed", weight: 1.5, value: (s) => (s.mailUnsubscribed > 0 ? 1 : 0) },
  { name: "praised the brand", weight: -1.5, value: (s) => (s.praise > 0 ? 1 : 0) },
  { name: "open complaints", weight: 0.3, value: (s) => Math.min(s.openComplaints, 3) },
  { name: "contacts that were no praise", weight: 0.25, value: (s) => Math.min(s.negative + s.otherContacts, 3) },
  { name: "months since first active", weight: -0.4, value: (s) => (s.daysSinceFirstActive ?? 0) / 30 },
]
const CHURN_BIAS = -0.5

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
