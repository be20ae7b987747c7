// A profile's signals as of a date, folded from its daily activity and what it wrote or said: recency, frequency and
// spread of visits, orders and spend, channel breadth, mail engagement, sentiment level and trend, open complaints,
// and social reach. Pure: the same history and date always give the same signals.
import type { ProfileHistory } from "../../warehouse/relations.ts"
import type { RelationsConfig } from "./config.ts"

const DAY_MS = 86_400_000
/** A positive text scoring at least this is praise a person means (sentiment scores run -1..1). */
export const PRAISE_SCORE = 0.75
/** A service contact scoring below this was no praise: a problem or a question, told flatly or angrily. */
export const LUKEWARM_SCORE = 0.3

export interface Signals {
  /** Days from the first and last day with the person's own activity to the date (null: none yet). */
  readonly daysSinceFirstActive: number | null
  readonly daysSinceLastActive: number | null
  readonly daysSinceLastVisit: number | null
  readonly daysSinceLastOrder: number | null
  /** Days with a visit: in all, in the recent window, in the window before it. */
  readonly visitDays: number
  readonly visitDaysRecent: number
  readonly visitDaysPrevious: number
  /** Active days (any own activity) in the recent window and the one before. */
  readonly activeDaysRecent: number
  readonly activeDaysPrevious: number
  /** Days with any own activity, and the days from the first to the last of them. */
  readonly activeDays: number
  readonly activeSpanDays: number
  /** Mean days between visit days (null: fewer than two visits): the person's own rhythm. */
  readonly meanVisitGapDays: number | null
  /** Share of the weeks since the first activity that had any own activity (0-1): how spread out the visits are. */
  readonly activeWeekShare: number
  readonly orders: number
  readonly ordersRecent: number
  readonly ordersPrevious: number
  readonly spend: number
  /** Channels where the person acted (not mail sent to them). */
  readonly channels: ReadonlyArray<string>
  readonly mailDelivered: number
  readonly mailOpened: number
  readonly mailClicked: number
  readonly mailUnsubscribed: number
  /** Opens / deliveries in the recent window and the one before (null: nothing delivered). */
  readonly openRateRecent: number | null
  readonly openRatePrevious: number | null
  readonly openRate: number | null
  readonly texts: number
  /** Strong praise: positive and at least PRAISE_SCORE, so polite thanks in a support chat is not advocacy. */
  readonly praise: number
  /** Service contacts that were neither praise nor negative: questions, problems told flatly. */
  readonly otherContacts: number
  /** Service contacts scoring below LUKEWARM_SCORE (negative ones included): problems, whatever the words. */
  readonly lukewarmContacts: number
  readonly positive: number
  readonly negative: number
  readonly negativeRecent: number
  /** Visit days before the first service contact that was no praise, and since it (null: no such contact). */
  readonly visitDaysBeforeTrouble: number | null
  readonly visitDaysSinceTrouble: number | null
  /** Service contacts that were no praise (complaints included) in the recent window. */
  readonly troubleRecent: number
  /** Service contacts (chat, call, inbound mail) that were negative; negative public posts. */
  readonly negativeContacts: number
  readonly negativePublic: number
  readonly positivePublic: number
  /** Negative service contacts after the last positive one: complaints nobody turned round. */
  readonly openComplaints: number
  readonly daysSinceLastComplaint: number | null
  /** Exponentially weighted mean score (half-life from configuration), and its short-term minus long-term value. */
  readonly sentimentLevel: number | null
  readonly sentimentTrend: number | null
  readonly strongestPraise: number | null
  readonly strongestComplaint: number | null
  readonly socialReach: number
  readonly socialEngagement: number
  readonly followers: number
  /** Service contacts of any kind (chat, call, inbound mail), praise included. */
  readonly serviceContacts: number
  /** Standard deviation of the scores of what the person wrote or said (null: fewer than two texts): blowing hot and cold. */
  readonly sentimentSpread: number | null
  /** How often the tone flipped between praise-or-positive and negative from one text to the next, in time order. */
  readonly sentimentFlips: number
  /** Mean score of the earlier and the later half of the person's texts (null: fewer than two): turning or consistent. */
  readonly sentimentEarly: number | null
  readonly sentimentLate: number | null
  /** Mean score of what they wrote before their first service contact that was no praise (null: nothing before it, or no such contact). */
  readonly sentimentBeforeTrouble: number | null
  /** Visit days per week between the first activity and the first contact that was no praise (null: no such contact). */
  readonly visitRateBeforeTrouble: number | null
  /** The longest run of days without own activity between two active days (null: fewer than two active days). */
  readonly longestActiveGapDays: number | null
  /** Days since they last wrote or said anything (null: never): a detractor keeps writing, someone at risk has gone silent. */
  readonly daysSinceLastMessage: number | null
}

const nameOf = (act: string) => act.slice(act.indexOf("/") + 1)
const channelOf = (act: string) => act.slice(0, act.indexOf("/"))
const baseName = (name: string) => (name.endsWith(":machine") ? name.slice(0, -":machine".length) : name)

/** The end of a day (YYYY-MM-DD) in ms, UTC. */
export const endOfDayMs = (day: string) => Date.parse(`${day}T23:59:59.999Z`)
const dayIndex = (day: string) => Math.floor(Date.parse(`${day}T00:00:00Z`) / DAY_MS)

const ewma = (points: ReadonlyArray<{ readonly ageDays: number; readonly score: number }>, halfLife: number): number | null => {
  let w = 0
  let s = 0
  for (const p of points) {
    const weight = Math.pow(0.5, p.ageDays / halfLife)
    w += weight
    s += weight * p.score
  }
  return w === 0 ? null : s / w
}

/** Per-window counts: the recent window (slot 0) and the one before it (slot 1); older days count in neither. */
const slotOf = (age: number, windowDays: number): 0 | 1 | -1 => (age < windowDays ? 0 : age < 2 * windowDays ? 1 : -1)

/** What the person did, day by day (their own activity; mail sent to them and machine opens are not theirs). */
interface Activity {
  readonly firstActive: number | null
  readonly lastActive: number | null
  readonly lastVisit: number | null
  readonly lastOrder: number | null
  readonly firstVisit: number | null
  /** Visit days and active days, ascending: the rhythm is read from them. */
  readonly visitDayList: ReadonlyArray<number>
  readonly activeDayList: ReadonlyArray<number>
  readonly visitDaysRecent: number
  readonly visitDaysPrevious: number
  readonly activeDaysRecent: number
  readonly activeDaysPrevious: number
  /** Weeks (counted back from the date) with any own activity. */
  readonly activeWeeks: number
  readonly orders: number
  readonly ordersRecent: number
  readonly ordersPrevious: number
  readonly spend: number
  readonly channels: ReadonlySet<string>
  readonly mailDelivered: number
  readonly mailOpened: number
  readonly mailClicked: number
  readonly mailUnsubscribed: number
  /** Deliveries and human opens per window slot (recent, previous). */
  readonly deliveredIn: readonly [number, number]
  readonly openedIn: readonly [number, number]
  readonly socialReach: number
  readonly socialEngagement: number
  readonly followers: number
}

/** Folds the daily activity: which acts are visits, orders and mail is the configuration's (Segment-spec names by default). */
const activityOf = (days: ProfileHistory["days"], today: number, config: RelationsConfig): Activity => {
  const W = config.windowDays
  const orderNames = new Set(config.orderEvents)
  const sent = new Set(config.sentEvents)
  const notVisits = new Set(config.notVisits)
  const visitChannels = new Set(config.visitChannels)
  const delivered = new Set(config.mailDelivered)
  const opened = new Set(config.mailOpened)
  const clicked = new Set(config.mailClicked)
  const unsubscribed = new Set(config.mailUnsubscribed)
  let firstActive: number | null = null, lastActive: number | null = null, lastVisit: number | null = null
  let lastOrder: number | null = null, firstVisit: number | null = null
  let visitDaysRecent = 0, visitDaysPrevious = 0, activeDaysRecent = 0, activeDaysPrevious = 0
  let orders = 0, ordersRecent = 0, ordersPrevious = 0, spend = 0
  let mailDelivered = 0, mailOpened = 0, mailClicked = 0, mailUnsubscribed = 0
  const deliveredIn: [number, number] = [0, 0]
  const openedIn: [number, number] = [0, 0]
  let socialReach = 0, socialEngagement = 0, followers = 0
  const visitDayList: Array<number> = []
  const activeDayList: Array<number> = []
  const channels = new Set<string>()
  const weeks = new Set<number>()
  for (const d of days) {
    const day = dayIndex(d.day)
    const slot = slotOf(today - day, W)
    let active = false
    let visit = false
    for (const [act, count, amount] of d.acts) {
      const name = nameOf(act)
      const channel = channelOf(act)
      const machine = name.endsWith(":machine")
      const base = baseName(name)
      if (delivered.has(base)) {
        mailDelivered += count
        if (slot !== -1) deliveredIn[slot] += count
      }
      if (!machine && opened.has(base)) {
        mailOpened += count
        if (slot !== -1) openedIn[slot] += count
      }
      if (clicked.has(base)) mailClicked += count
      if (unsubscribed.has(base)) mailUnsubscribed += count
      if (orderNames.has(base)) {
        orders += count
        spend += amount
        lastOrder = day
        if (slot === 0) ordersRecent += count
        else if (slot === 1) ordersPrevious += count
      }
      if (sent.has(base) || machine) continue
      active = true
      channels.add(channel)
      if (visitChannels.has(channel) && !notVisits.has(base)) visit = true
    }
    socialReach += d.reach
    socialEngagement += d.engagement
    followers = Math.max(followers, d.followers)
    if (active) {
      activeDayList.push(day)
      firstActive ??= day
      lastActive = day
      weeks.add(Math.floor((today - day) / 7))
      if (slot === 0) activeDaysRecent++
      else if (slot === 1) activeDaysPrevious++
    }
    if (visit) {
      firstVisit ??= day
      visitDayList.push(day)
      lastVisit = day
      if (slot === 0) visitDaysRecent++
      else if (slot === 1) visitDaysPrevious++
    }
  }
  return {
    firstActive, lastActive, lastVisit, lastOrder, firstVisit, visitDayList, activeDayList,
    visitDaysRecent, visitDaysPrevious, activeDaysRecent, activeDaysPrevious, activeWeeks: weeks.size,
    orders, ordersRecent, ordersPrevious, spend, channels,
    mailDelivered, mailOpened, mailClicked, mailUnsubscribed, deliveredIn, openedIn, socialReach, socialEngagement, followers,
  }
}

/** One scored text on its day, in time order once sorted. */
interface Scored { readonly day: number; readonly score: number; readonly label: string }

/** What the person wrote or said up to the date: praise, complaints, service contacts, and the scores in time order. */
interface Voice {
  readonly firstDay: number | null
  readonly lastDay: number | null
  readonly channels: ReadonlySet<string>
  /** Age in days and score of each text, for the exponentially weighted level. */
  readonly points: ReadonlyArray<{ readonly ageDays: number; readonly score: number }>
  readonly timeline: ReadonlyArray<Scored>
  /** The day of the first service contact that was no praise (null: none). */
  readonly firstTroubleDay: number | null
  readonly serviceContacts: number
  readonly praise: number
  readonly otherContacts: number
  readonly lukewarmContacts: number
  readonly troubleRecent: number
  readonly positive: number
  readonly negative: number
  readonly negativeRecent: number
  readonly negativeContacts: number
  readonly negativePublic: number
  readonly positivePublic: number
  readonly openComplaints: number
  readonly lastComplaintMs: number | null
  readonly strongestPraise: number | null
  readonly strongestComplaint: number | null
}

const voiceOf = (said: ProfileHistory["said"], asOfMs: number, config: RelationsConfig): Voice => {
  const W = config.windowDays
  const serviceChannels = new Set(config.serviceChannels)
  const publicChannels = new Set(config.publicChannels)
  let firstDay: number | null = null, lastDay: number | null = null
  let positive = 0, negative = 0, negativeRecent = 0, negativeContacts = 0, negativePublic = 0, positivePublic = 0
  let openComplaints = 0, praise = 0, otherContacts = 0, lukewarmContacts = 0, troubleRecent = 0, serviceContacts = 0
  let firstTroubleDay: number | null = null
  let lastComplaintMs: number | null = null
  let strongestPraise: number | null = null
  let strongestComplaint: number | null = null
  const channels = new Set<string>()
  const points: Array<{ ageDays: number; score: number }> = []
  const scores: Array<Scored> = []
  for (const s of said) {
    if (s.atMs > asOfMs) continue
    const ageDays = (asOfMs - s.atMs) / DAY_MS
    points.push({ ageDays, score: s.score })
    // An own text is activity too (a complaint is contact), on its own day.
    const day = Math.floor(s.atMs / DAY_MS)
    if (firstDay === null || day < firstDay) firstDay = day
    if (lastDay === null || day > lastDay) lastDay = day
    channels.add(s.channel)
    const service = serviceChannels.has(s.channel)
    const isPraise = s.label === "positive" && s.score >= PRAISE_SCORE
    if (service) serviceContacts++
    scores.push({ day, score: s.score, label: s.label })
    if (isPraise) praise++
    else if (service && s.label !== "negative") otherContacts++
    if (service && s.score < LUKEWARM_SCORE) lukewarmContacts++
    if (service && !isPraise) {
      firstTroubleDay ??= day
      if (ageDays < W) troubleRecent++
    }
    if (s.label === "positive") {
      positive++
      strongestPraise = Math.max(strongestPraise ?? -1, s.score)
      if (service) openComplaints = 0
      if (publicChannels.has(s.channel)) positivePublic++
    } else if (s.label === "negative") {
      negative++
      strongestComplaint = Math.min(strongestComplaint ?? 1, s.score)
      if (ageDays < W) negativeRecent++
      if (publicChannels.has(s.channel)) negativePublic++
      if (service) {
        negativeContacts++
        openComplaints++
        lastComplaintMs = s.atMs
      }
    }
  }
  // Texts are read in time order (a profile recomputed after a merge may hold them in another order).
  const timeline = scores.every((x, i) => i === 0 || scores[i - 1]!.day <= x.day) ? scores : [...scores].sort((a, b) => a.day - b.day)
  return {
    firstDay, lastDay, channels, points, timeline, firstTroubleDay, serviceContacts, praise, otherContacts, lukewarmContacts,
    troubleRecent, positive, negative, negativeRecent, negativeContacts, negativePublic, positivePublic, openComplaints,
    lastComplaintMs, strongestPraise, strongestComplaint,
  }
}

const meanScore = (xs: ReadonlyArray<{ readonly score: number }>) => (xs.length === 0 ? null : xs.reduce((t, x) => t + x.score, 0) / xs.length)

/** How the tone moved over the texts in time order: spread, flips between positive and negative, earlier half against later, before the first trouble. */
const toneOf = (timeline: ReadonlyArray<Scored>, firstTroubleDay: number | null) => {
  const overall = meanScore(timeline)
  const spread = timeline.length < 2 || overall === null ? null : Math.sqrt(timeline.reduce((t, x) => t + (x.score - overall) ** 2, 0) / timeline.length)
  let flips = 0
  let tone = 0
  for (const x of timeline) {
    const now = x.label === "positive" ? 1 : x.label === "negative" ? -1 : 0
    if (now !== 0 && tone !== 0 && now !== tone) flips++
    if (now !== 0) tone = now
  }
  const half = Math.floor(timeline.length / 2)
  return {
    sentimentSpread: spread,
    sentimentFlips: flips,
    sentimentEarly: timeline.length < 2 ? null : meanScore(timeline.slice(0, half)),
    sentimentLate: timeline.length < 2 ? null : meanScore(timeline.slice(timeline.length - half)),
    sentimentBeforeTrouble: firstTroubleDay === null ? null : meanScore(timeline.filter((x) => x.day < firstTroubleDay)),
  }
}

/**
 * The person's rhythm: mean days between visits, share of weeks active, the longest quiet spell, and visits before
 * and after the first trouble. `firstActive` counts texts too (a first complaint starts the relationship).
 */
const rhythmOf = (a: Activity, firstActive: number | null, firstTroubleDay: number | null, today: number) => {
  const visits = a.visitDayList.length
  let longestGap: number | null = null
  for (let i = 1; i < a.activeDayList.length; i++) longestGap = Math.max(longestGap ?? 0, a.activeDayList[i]! - a.activeDayList[i - 1]!)
  const tenureWeeks = firstActive === null ? 0 : Math.floor((today - firstActive) / 7) + 1
  const before = firstTroubleDay === null ? null : a.visitDayList.filter((d) => d < firstTroubleDay).length
  return {
    meanVisitGapDays: visits < 2 || a.firstVisit === null || a.lastVisit === null ? null : (a.lastVisit - a.firstVisit) / (visits - 1),
    activeWeekShare: tenureWeeks === 0 ? 0 : a.activeWeeks / tenureWeeks,
    longestActiveGapDays: longestGap,
    visitDaysBeforeTrouble: before,
    visitDaysSinceTrouble: firstTroubleDay === null ? null : a.visitDayList.filter((d) => d > firstTroubleDay).length,
    visitRateBeforeTrouble: before === null || firstActive === null ? null : (before / Math.max(1, firstTroubleDay! - firstActive)) * 7,
  }
}

const earliest = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b))
const latest = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b))

/** The signals of one profile as of the end of `asOf` (YYYY-MM-DD); the history holds nothing after it. */
export const signalsOf = (history: ProfileHistory, asOf: string, config: RelationsConfig): Signals => {
  const today = dayIndex(asOf)
  const asOfMs = endOfDayMs(asOf)
  const a = activityOf(history.days, today, config)
  const v = voiceOf(history.said, asOfMs, config)
  const firstActive = earliest(a.firstActive, v.firstDay)
  const lastActive = latest(a.lastActive, v.lastDay)
  const long = ewma(v.points, config.sentimentHalfLifeDays)
  const short = ewma(v.points, Math.max(1, config.sentimentHalfLifeDays / 3))
  const rate = (o: number, d: number) => (d === 0 ? null : Math.min(1, o / d))
  const since = (day: number | null) => (day === null ? null : Math.max(0, today - day))
  return {
    daysSinceFirstActive: since(firstActive),
    daysSinceLastActive: since(lastActive),
    daysSinceLastVisit: since(a.lastVisit),
    daysSinceLastOrder: since(a.lastOrder),
    visitDays: a.visitDayList.length,
    visitDaysRecent: a.visitDaysRecent, visitDaysPrevious: a.visitDaysPrevious,
    activeDaysRecent: a.activeDaysRecent, activeDaysPrevious: a.activeDaysPrevious,
    activeDays: a.activeDayList.length,
    activeSpanDays: firstActive === null || lastActive === null ? 0 : lastActive - firstActive,
    orders: a.orders, ordersRecent: a.ordersRecent, ordersPrevious: a.ordersPrevious, spend: Math.round(a.spend * 100) / 100,
    channels: [...new Set([...a.channels, ...v.channels])].sort(),
    mailDelivered: a.mailDelivered, mailOpened: a.mailOpened, mailClicked: a.mailClicked, mailUnsubscribed: a.mailUnsubscribed,
    openRateRecent: rate(a.openedIn[0], a.deliveredIn[0]),
    openRatePrevious: rate(a.openedIn[1], a.deliveredIn[1]),
    openRate: rate(a.mailOpened, a.mailDelivered),
    texts: v.points.length, praise: v.praise, otherContacts: v.otherContacts, lukewarmContacts: v.lukewarmContacts,
    positive: v.positive, negative: v.negative, negativeRecent: v.negativeRecent, troubleRecent: v.troubleRecent,
    negativeContacts: v.negativeContacts, negativePublic: v.negativePublic, positivePublic: v.positivePublic, openComplaints: v.openComplaints,
    daysSinceLastComplaint: v.lastComplaintMs === null ? null : Math.floor((asOfMs - v.lastComplaintMs) / DAY_MS),
    sentimentLevel: long,
    sentimentTrend: long === null || short === null ? null : short - long,
    strongestPraise: v.strongestPraise,
    strongestComplaint: v.strongestComplaint,
    socialReach: a.socialReach, socialEngagement: a.socialEngagement, followers: a.followers,
    serviceContacts: v.serviceContacts,
    ...toneOf(v.timeline, v.firstTroubleDay),
    ...rhythmOf(a, firstActive, v.firstTroubleDay, today),
    daysSinceLastMessage: since(v.lastDay),
  }
}

/**
 * The signals as of the last day the person was active up to `asOf` (`now`, signalsOf's, when that is `asOf` or they
 * were never active): what they were like when last seen, which a silence since does not change.
 */
export const signalsWhenLastSeen = (history: ProfileHistory, asOf: string, config: RelationsConfig, now: Signals = signalsOf(history, asOf, config)): Signals => {
  if (now.daysSinceLastActive === null || now.daysSinceLastActive === 0) return now
  const day = new Date((dayIndex(asOf) - now.daysSinceLastActive) * DAY_MS).toISOString().slice(0, 10)
  const end = endOfDayMs(day)
  return signalsOf({ profileId: history.profileId, days: history.days.filter((d) => d.day <= day), said: history.said.filter((t) => t.atMs <= end) }, day, config)
}
