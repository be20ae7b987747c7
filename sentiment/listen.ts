// Social listening for marketers: what was said about the brand on social networks in a period. Mention volume,
// reach, sentiment per day and per aspect, top authors, emerging topics, and spikes of negative mentions (or of
// volume) that raise an alert row and a webhook call. Figures come from ClickHouse; spam filtering and topics, which
// need the texts, run here. The report holds counts, public handles and phrases, never a text.
import { createHash } from "node:crypto"
import { Data, Effect } from "effect"
import { refusingProfilesOfChannel } from "../consent/index.ts"
import {
  ASPECTS_SQL, AUTHOR_COUNT_SQL, AUTHORS_BY_ENGAGEMENT_SQL, AUTHORS_BY_REACH_SQL, DAYS_SQL, EXISTING_ALERTS_SQL, FEATURES_SQL,
  storeAlerts,
} from "../warehouse/listening.ts"
import { AddressRefused, PortRefused, RedirectRefused, request, type Resolver } from "../ingest/destinations/index.ts"
import { DateNotOnCalendar, dateOffTheCalendar, EARLIEST_DAY, EARLIEST_MS } from "../warehouse/calendar.ts"
import { chDateTime } from "../warehouse/sink.ts"
import { Warehouse, type WarehouseQueryError, type WarehouseRejectedRows, type WarehouseUnavailable } from "../warehouse/warehouse.ts"
import type { ListenRelationships } from "./report-relations.ts"
import { createSpamFilter, type SpamReason } from "./spam.ts"
import { DEFAULT_SPIKE_OPTIONS, detectSpikes, type SpikeOptions } from "./spikes.ts"
import { emergingTopics, type EmergingTopic } from "./topics.ts"

export interface ListenOptions {
  readonly tenant: string
  /** Start of the period (inclusive). */
  readonly since: Date
  /** End of the period (exclusive); default now. */
  readonly until?: Date
  /** The brand's names, handles and hashtags; default none. Kept out of topics, read as the brand by the classifier. */
  readonly brand?: ReadonlyArray<string>
  /** Spike threshold: median + k × spread of the trailing days; default 3. */
  readonly k?: number
  /** Trailing days that form a day's baseline; default 28. */
  readonly baselineDays?: number
  /** Where alerts are POSTed as JSON; default none (alert rows only). */
  readonly webhookUrl?: string
  /** The webhook URL's host name may resolve to this machine or the private network (CDP_ALERT_WEBHOOK_PRIVATE_NETWORK). */
  readonly webhookPrivateNetwork?: boolean
  /** Write alert rows and call the webhook for spikes; default true. */
  readonly raiseAlerts?: boolean
  /** Authors and topics listed; default 10. */
  readonly top?: number
  /** Topics compare the last N days of the period with the N days before; default the whole period with the one before it. */
  readonly topicDays?: number
}

export interface ListenDay {
  /** YYYY-MM-DD (UTC). */
  readonly day: string
  readonly mentions: number
  readonly positive: number
  readonly negative: number
  readonly neutral: number
  /** Sum of the authors' follower counts over the day's mentions (potential reach). */
  readonly reach: number
  readonly impressions: number
  readonly engagement: number
  /** Mentions filtered out as spam that day. */
  readonly spam: number
}

export interface ListenAspect {
  readonly aspect: string
  readonly mentions: number
  readonly positive: number
  readonly negative: number
  readonly positiveShare: number
  readonly negativeShare: number
  /** Mean aspect score in [-1, 1]. */
  readonly avgScore: number
}

export interface ListenAuthor {
  /** Public handle: "@name" on X, "network:name" elsewhere. */
  readonly handle: string
  readonly name?: string
  readonly followers: number
  readonly mentions: number
  /** Likes + reposts + replies + quotes of their mentions. */
  readonly engagement: number
}

export type SpikeKind = "negative_spike" | "volume_spike"

export interface ListenSpike {
  readonly day: string
  readonly kind: SpikeKind
  /** Negative mentions (negative_spike) or all mentions (volume_spike) that day. */
  readonly value: number
  readonly median: number
  readonly mad: number
  readonly threshold: number
  /** The same day and kind always has the same id. */
  readonly alertId: string
  /** "new": raised by this run; "existing": raised before; "not_raised": alerts were off. */
  readonly status: "new" | "existing" | "not_raised"
  /** The webhook has received it (now or on an earlier run). */
  readonly notified: boolean
}

export interface ListenReport {
  readonly tenant: string
  readonly since: string
  readonly until: string
  readonly generatedAt: string
  readonly brand: ReadonlyArray<string>
  readonly mentions: {
    /** Mentions counted (spam excluded). */
    readonly total: number
    readonly spamFiltered: number
    /** How often each spam signal fired among the filtered ones. */
    readonly spamReasons: Readonly<Partial<Record<SpamReason, number>>>
    readonly authors: number
  }
  readonly sentiment: {
    readonly positive: number
    readonly negative: number
    readonly neutral: number
    readonly positiveShare: number
    readonly negativeShare: number
  }
  readonly reach: number
  readonly impressions: number
  readonly engagement: number
  readonly days: ReadonlyArray<ListenDay>
  readonly aspects: ReadonlyArray<ListenAspect>
  readonly topAuthors: { readonly byReach: ReadonlyArray<ListenAuthor>; readonly byEngagement: ReadonlyArray<ListenAuthor> }
  readonly topics: {
    readonly since: string
    readonly until: string
    readonly previousSince: string
    readonly phrases: ReadonlyArray<EmergingTopic>
  }
  readonly spikes: ReadonlyArray<ListenSpike>
  readonly alerts: {
    readonly enabled: boolean
    readonly raised: number
    readonly existing: number
    readonly webhook: {
      readonly configured: boolean
      readonly delivered: number
      readonly failed: number
      /** Why deliveries failed ("HTTP 500", "ECONNREFUSED"); never the URL, which may hold a secret. */
      readonly errors: ReadonlyArray<string>
    }
  }
  readonly settings: { readonly k: number; readonly baselineDays: number; readonly minHistoryDays: number; readonly minCount: number }
  /** Relationship types over the period; present only when the tenant has relationship scores (the CLI attaches them). */
  readonly relationships?: ListenRelationships
}

// ── Periods ─────────────────────────────────────────────────────────────────────────────────────────────────────

export class InvalidPeriod extends Data.TaggedError("InvalidPeriod")<{ readonly value: string }> {
  override get message() {
    return `${quoted(this.value)} is not a period: use 7d, 2w, 24h, a date (2024-10-01) or an ISO time (2024-10-01T12:00:00Z)`
  }
}

/** A period starting after now: its report would be empty (no mention is dated in the future), said as if there were none. */
export class SinceInFuture extends Data.TaggedError("SinceInFuture")<{ readonly value: string; readonly now: string }> {
  override get message() {
    return `${quoted(this.value)} is in the future (it is ${this.now} now): the period must start at or before now, e.g. 7d or today's date`
  }
}

/** At most 40 characters of what was given (a value may be a whole request's worth). */
const cut = (value: string) => (value.length > 40 ? `${value.slice(0, 40)}…` : value)
const quoted = (value: string) => `"${cut(value)}"`

const DAY_MS = 86_400_000
const RELATIVE = /^(\d+)\s*([hdw])$/i
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/
const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/

const startOfUtcDay = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS

const parseDate = (value: string): number => {
  const off = dateOffTheCalendar(value)
  if (off !== undefined) throw off
  const ms = Date.parse(DATE_ONLY.test(value) ? `${value}T00:00:00.000Z` : value)
  if (Number.isNaN(ms) || !(DATE_ONLY.test(value) || ISO_TIME.test(value))) throw new InvalidPeriod({ value })
  return ms
}

/**
 * The start of a period: "7d" is the last seven days before today plus today so far (from midnight UTC, so every day
 * in the report is whole), "2w" fourteen days, "24h" exactly 24 hours ago; a date is its midnight UTC, an ISO time
 * that instant. Throws DateNotOnCalendar for a date Date.parse would move (2024-02-30), SinceInFuture for a start
 * after `now`, InvalidPeriod otherwise.
 */
export const parseSince = (value: string, now: Date = new Date()): Date => {
  const since = parsePoint(value, now)
  if (since.getTime() > now.getTime()) throw new SinceInFuture({ value: value.trim(), now: now.toISOString().slice(0, 19) + "Z" })
  return since
}

/** A point in time as parseSince reads it, in the future or not. */
const parsePoint = (value: string, now: Date): Date => {
  const v = value.trim()
  const relative = RELATIVE.exec(v)
  if (relative !== null) {
    const n = Number(relative[1])
    const unit = relative[2]!.toLowerCase()
    const ms = unit === "h" ? now.getTime() - n * 3_600_000 : startOfUtcDay(now.getTime()) - n * (unit === "w" ? 7 : 1) * DAY_MS
    // As a date before 1900 is refused (warehouse/calendar.ts): the warehouse would clamp the bound, not use it.
    if (!(ms >= EARLIEST_MS)) {
      const back = Number.isFinite(ms) && ms > -8.64e15 ? ` to ${dayOf(ms)},` : ""
      throw new DateNotOnCalendar({ date: cut(v), reason: `goes back${back} before ${EARLIEST_DAY}, the earliest day the warehouse holds` })
    }
    return new Date(ms)
  }
  return new Date(parseDate(v))
}

/**
 * The most past days one report covers: it answers a row per day (since=1900-01-01 was 46,000 rows, 5.6 MB), so a
 * period of any length cost the server and the caller for nothing a marketer reads.
 */
export const MAX_REPORT_DAYS = 3660

/** Why a period reaches further back than a report covers, or undefined (its days up to now: `until` undefined is now). */
export const periodTooLong = (since: Date, until: Date | undefined, now: Date = new Date()): string | undefined => {
  const days = Math.ceil((Math.min((until ?? now).getTime(), now.getTime()) - since.getTime()) / DAY_MS)
  return days <= MAX_REPORT_DAYS ? undefined
    : `the period is ${days} days; a report covers at most ${MAX_REPORT_DAYS} days (10 years): give a later since, or an until`
}

/** The end of a period (exclusive): a date means up to the end of that day; otherwise as parseSince. */
export const parseUntil = (value: string, now: Date = new Date()): Date => {
  const v = value.trim()
  if (DATE_ONLY.test(v)) return new Date(parseDate(v) + DAY_MS)
  return parsePoint(v, now)
}

const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10)
const chTime = (ms: number): string => chDateTime(new Date(ms).toISOString())

interface FeatureRow {
  readonly id: string
  readonly ms: string | number
  readonly text: string
  readonly urls: ReadonlyArray<string>
  readonly hashtags: string | number
  readonly mentions: string | number
  readonly followers: string | number | null
  readonly description: string
  readonly handle: string
  readonly engagement: string | number
}

interface DayRow {
  readonly day: string
  readonly mentions: string
  readonly positive: string
  readonly negative: string
  readonly reach: string
  readonly impressions: string
  readonly engagement: string
}

interface AspectRow {
  readonly aspect: string
  readonly mentions: string
  readonly positive: string
  readonly negative: string
  readonly avg_score: number
}

interface AuthorRow {
  readonly handle: string
  readonly name: string
  readonly followers: string
  readonly mentions: string
  readonly engagement: string
}

const share = (part: number, whole: number): number => (whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000)
const round = (x: number, digits = 4): number => Math.round(x * 10 ** digits) / 10 ** digits

const toAuthor = (r: AuthorRow): ListenAuthor => ({
  handle: r.handle,
  ...(r.name === "" ? {} : { name: r.name }),
  followers: Number(r.followers),
  mentions: Number(r.mentions),
  engagement: Number(r.engagement),
})

// ── Alerts ──────────────────────────────────────────────────────────────────────────────────────────────────────

/** Same tenant, kind and day: same id, so a rerun finds (and the table collapses) the alert it raised before. */
export const alertId = (tenant: string, kind: SpikeKind, day: string): string =>
  createHash("sha256").update(`${tenant}\u0000${kind}\u0000${day}`).digest("hex").slice(0, 32)

/** What the webhook receives: counts, the day and the tenant; nothing about any person. */
export interface AlertPayload {
  readonly type: "cdp.listen.alert"
  readonly tenant: string
  readonly alert_id: string
  readonly kind: SpikeKind
  readonly day: string
  readonly value: number
  readonly baseline_median: number
  readonly threshold: number
  readonly mentions: number
  readonly negative: number
  /** One line for chat tools that show a `text` field (Slack, Mattermost). */
  readonly text: string
}

const WEBHOOK_TIMEOUT_MS = 5_000

/**
 * POSTs one alert; resolves to undefined when delivered or to why not, never rejects. It goes through the destinations'
 * one vetted HTTP path (ingest/destinations/http.ts `request`): the URL's host name must resolve to public addresses,
 * and the call goes to the address checked (DNS could otherwise point it at this machine, the private network or a
 * metadata service), unless `privateNetwork` (CDP_ALERT_WEBHOOK_PRIVATE_NETWORK=true) lets it resolve to this machine or
 * the private network, as a destination's "privateNetwork": true does; an address written in the URL is taken, but a
 * link-local or metadata one. A redirect is not
 * followed (it could lead the server's request to an address the configured URL does not name) and the answer's body
 * is not read (its status says all: an endless body held the server's memory and the report until the timeout). The
 * reasons name the kind of address refused, never the address (the report's readers are marketers).
 */
export const deliverAlert = async (url: string, payload: AlertPayload, options: {
  readonly privateNetwork?: boolean | undefined
  /** How names are resolved (tests). */
  readonly resolve?: Resolver | undefined
} = {}): Promise<string | undefined> => {
  try {
    const a = await request(url, {
      method: "POST", body: JSON.stringify(payload), headers: { "content-type": "application/json" },
    }, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS), {
      resolve: options.resolve, privateNetwork: options.privateNetwork, readBody: false,
      privateHint: "write the receiver's address in CDP_ALERT_WEBHOOK_URL, or set CDP_ALERT_WEBHOOK_PRIVATE_NETWORK=true for a receiver on this machine or the private network",
    })
    return a.status >= 200 && a.status < 300 ? undefined : `HTTP ${a.status}`
  } catch (error) {
    if (error instanceof RedirectRefused) return `HTTP ${error.status} (a redirect: not followed)`
    if (error instanceof PortRefused) return `refused: ${error.message}`
    if (error instanceof AddressRefused) {
      return error.written ? `refused: the webhook's address is ${error.kind}` : `refused: ${error.message.replace(/^\S+ resolves/, "its host name resolves")}`
    }
    const code = (error as { code?: unknown; cause?: { code?: unknown } }).code ?? (error as { cause?: { code?: unknown } }).cause?.code
    if ((error as Error).name === "TimeoutError" || (error as Error).name === "AbortError") return "timeout"
    return typeof code === "string" ? code : "unreachable"
  }
}

/** A busy day is news only from this many mentions up; a few posts more than a quiet usual are not. */
const VOLUME_MIN_COUNT = 10

const KIND_WORDS: Readonly<Record<SpikeKind, string>> = {
  negative_spike: "negative mentions",
  volume_spike: "mentions",
}

// ── The report ──────────────────────────────────────────────────────────────────────────────────────────────────

export const listenReport: (
  options: ListenOptions,
) => Effect.Effect<ListenReport, WarehouseUnavailable | WarehouseQueryError | WarehouseRejectedRows, Warehouse> = Effect.fn("listenReport")(function* (
  options: ListenOptions,
) {
  const warehouse = yield* Warehouse
  const now = Date.now()
  const sinceMs = options.since.getTime()
  const untilMs = Math.max(sinceMs, (options.until ?? new Date(now)).getTime())
  const brand = options.brand ?? []
  const top = options.top ?? 10
  const spikeOptions: SpikeOptions = {
    ...DEFAULT_SPIKE_OPTIONS,
    k: options.k ?? DEFAULT_SPIKE_OPTIONS.k,
    windowDays: options.baselineDays ?? DEFAULT_SPIKE_OPTIONS.windowDays,
  }
  const baselineDays = spikeOptions.windowDays!

  // Days of the period, and the whole baseline days before it.
  const sinceDayMs = startOfUtcDay(sinceMs)
  const lastDayMs = untilMs > sinceMs ? startOfUtcDay(untilMs - 1) : sinceDayMs - DAY_MS
  const baselineFromMs = sinceDayMs - baselineDays * DAY_MS
  const topicSinceMs = options.topicDays === undefined ? sinceMs : Math.max(sinceMs, untilMs - options.topicDays * DAY_MS)
  const topicPreviousMs = topicSinceMs - (untilMs - topicSinceMs)
  const fromMs = Math.min(baselineFromMs, topicPreviousMs)

  const params = {
    tenant: options.tenant,
    from: chTime(fromMs),
    since: chTime(sinceMs),
    sinceDay: chTime(sinceDayMs),
    until: chTime(untilMs),
    top,
  }

  // Spam: rules and classifier over every mention the figures, baselines and topics read.
  const features = yield* warehouse.query<FeatureRow>(FEATURES_SQL, { params })
  const filter = createSpamFilter({ brand })
  const spam: Array<string> = []
  const spamPerDay = new Map<string, number>()
  const spamReasons: Partial<Record<SpamReason, number>> = {}
  const topicTexts: Array<string> = []
  const previousTexts: Array<string> = []
  let spamFiltered = 0
  for (const row of features) {
    const ms = Number(row.ms)
    const verdict = filter.check({
      text: row.text,
      urls: row.urls,
      hashtags: Number(row.hashtags),
      mentions: Number(row.mentions),
      followers: row.followers === null ? undefined : Number(row.followers),
      engagement: Number(row.engagement),
      authorDescription: row.description,
      handle: row.handle,
    })
    const inPeriod = ms >= sinceMs && ms < untilMs
    if (verdict.spam) {
      spam.push(row.id)
      // Counted per day as the figures are: whole baseline days, the period's first day from `since`.
      if (inPeriod || (ms >= baselineFromMs && ms < sinceDayMs)) {
        const day = dayOf(ms)
        spamPerDay.set(day, (spamPerDay.get(day) ?? 0) + 1)
      }
      if (inPeriod) {
        spamFiltered++
        for (const r of verdict.reasons) spamReasons[r] = (spamReasons[r] ?? 0) + 1
      }
      continue
    }
    if (row.text === "") continue
    if (ms >= topicSinceMs && ms < untilMs) topicTexts.push(row.text)
    else if (ms >= topicPreviousMs && ms < topicSinceMs) previousTexts.push(row.text)
  }

  const withSpam = { ...params, spam, objected: yield* refusingProfilesOfChannel(options.tenant, "social") }
  const [dayRows, aspectRows, byReach, byEngagement, authorCount] = yield* Effect.all([
    warehouse.query<DayRow>(DAYS_SQL, { params: { ...withSpam, from: chTime(baselineFromMs) } }),
    warehouse.query<AspectRow>(ASPECTS_SQL, { params: withSpam }),
    warehouse.query<AuthorRow>(AUTHORS_BY_REACH_SQL, { params: withSpam }),
    warehouse.query<AuthorRow>(AUTHORS_BY_ENGAGEMENT_SQL, { params: withSpam }),
    warehouse.query<{ authors: string }>(AUTHOR_COUNT_SQL, { params: withSpam }),
  ])

  // Dense daily series from the first baseline day to the last day of the period (days without mentions are 0), but
  // none after today that has no mentions: until=2299-12-31 answered 100,000 empty future days (12 MB).
  const byDay = new Map(dayRows.map((r) => [r.day, r]))
  const lastRowMs = dayRows.reduce((m, r) => Math.max(m, Date.parse(`${r.day}T00:00:00Z`) || 0), 0)
  const seriesEndMs = Math.min(lastDayMs, Math.max(startOfUtcDay(now), lastRowMs))
  const series: Array<ListenDay> = []
  for (let ms = baselineFromMs; ms <= seriesEndMs; ms += DAY_MS) {
    const day = dayOf(ms)
    const r = byDay.get(day)
    const mentions = Number(r?.mentions ?? 0)
    const positive = Number(r?.positive ?? 0)
    const negative = Number(r?.negative ?? 0)
    series.push({
      day, mentions, positive, negative, neutral: mentions - positive - negative,
      reach: Number(r?.reach ?? 0), impressions: Number(r?.impressions ?? 0), engagement: Number(r?.engagement ?? 0),
      spam: spamPerDay.get(day) ?? 0,
    })
  }
  const days = series.slice(baselineDays)

  // Spikes among the period's days, each against the trailing baseline.
  const raise = options.raiseAlerts ?? true
  const found: Array<Omit<ListenSpike, "status" | "notified"> & { readonly mentions: number; readonly negative: number }> = []
  const kinds: ReadonlyArray<readonly [SpikeKind, (d: ListenDay) => number, SpikeOptions]> = [
    ["negative_spike", (d) => d.negative, spikeOptions],
    ["volume_spike", (d) => d.mentions, { ...spikeOptions, minCount: Math.max(spikeOptions.minCount!, VOLUME_MIN_COUNT) }],
  ]
  for (const [kind, value, detector] of kinds) {
    for (const s of detectSpikes(series.map(value), detector, baselineDays)) {
      const d = series[s.index]!
      found.push({
        day: d.day, kind, value: s.value, median: s.median, mad: s.mad, threshold: round(s.threshold, 3),
        alertId: alertId(options.tenant, kind, d.day), mentions: d.mentions, negative: d.negative,
      })
    }
  }
  found.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.kind < b.kind ? -1 : 1))

  const webhookUrl = options.webhookUrl
  const errors: Array<string> = []
  // Set once a call went unanswered for its whole timeout: the rest of this run's alerts are not sent (the next run
  // sends them), as a receiver that takes calls and never answers held the report n times 5 s (23 alerts: 2 minutes).
  let webhookSilent: string | undefined
  let delivered = 0
  let raised = 0
  let existingCount = 0
  const spikes: Array<ListenSpike> = []
  if (!raise || found.length === 0) {
    for (const { mentions: _m, negative: _n, ...s } of found) spikes.push({ ...s, status: "not_raised", notified: false })
  } else {
    const existing = new Map(
      (yield* warehouse.query<{ alert_id: string; notified: number | string; raised_at: string }>(EXISTING_ALERTS_SQL, {
        params: { tenant: options.tenant, ids: found.map((s) => s.alertId) },
      })).map((r) => [r.alert_id, { notified: Number(r.notified) === 1, raisedAt: r.raised_at }]),
    )
    const rows: Array<Record<string, unknown>> = []
    const at = chTime(now)
    for (const { mentions, negative, ...s } of found) {
      const known = existing.get(s.alertId)
      const wasNotified = known?.notified === true
      let notified = wasNotified
      // New alerts are sent; an earlier one whose delivery failed is sent again.
      if (webhookUrl !== undefined && !wasNotified) {
        const payload: AlertPayload = {
          type: "cdp.listen.alert", tenant: options.tenant, alert_id: s.alertId, kind: s.kind, day: s.day,
          value: s.value, baseline_median: s.median, threshold: s.threshold, mentions, negative,
          text: `${options.tenant}: ${KIND_WORDS[s.kind]} spiked on ${s.day}: ${s.value} (usually ${s.median}, threshold ${s.threshold})`,
        }
        const failure = webhookSilent ?? (yield* Effect.promise(() => deliverAlert(webhookUrl, payload, { privateNetwork: options.webhookPrivateNetwork })))
        if (failure === undefined) {
          delivered++
          notified = true
        } else {
          errors.push(failure)
          if (failure === "timeout") webhookSilent = `not sent: the webhook did not answer an earlier alert of this run within ${WEBHOOK_TIMEOUT_MS / 1000} s`
        }
      }
      if (known === undefined) raised++
      else existingCount++
      if (known === undefined || notified !== wasNotified) {
        rows.push({
          tenant: options.tenant, alert_id: s.alertId, kind: s.kind, day: s.day, raised_at: known?.raisedAt ?? at,
          value: s.value, baseline_median: s.median, mad: s.mad, threshold: s.threshold,
          details: JSON.stringify({ mentions, negative, k: spikeOptions.k, baseline_days: baselineDays }),
          notified: notified ? 1 : 0, updated_at: at,
        })
      }
      spikes.push({ ...s, status: known === undefined ? "new" : "existing", notified })
    }
    yield* storeAlerts(rows)
    if (errors.length > 0) yield* Effect.logWarning("alert webhook failed", { failed: errors.length, reasons: [...new Set(errors)] })
  }

  let positive = 0
  let negative = 0
  let total = 0
  let reach = 0
  let impressions = 0
  let engagement = 0
  for (const d of days) {
    positive += d.positive
    negative += d.negative
    total += d.mentions
    reach += d.reach
    impressions += d.impressions
    engagement += d.engagement
  }

  const report: ListenReport = {
    tenant: options.tenant,
    since: new Date(sinceMs).toISOString(),
    until: new Date(untilMs).toISOString(),
    generatedAt: new Date(now).toISOString(),
    brand: [...brand],
    mentions: { total, spamFiltered, spamReasons, authors: Number(authorCount[0]?.authors ?? 0) },
    sentiment: {
      positive, negative, neutral: total - positive - negative,
      positiveShare: share(positive, total), negativeShare: share(negative, total),
    },
    reach, impressions, engagement,
    days,
    aspects: aspectRows.map((r) => {
      const mentions = Number(r.mentions)
      return {
        aspect: r.aspect, mentions, positive: Number(r.positive), negative: Number(r.negative),
        positiveShare: share(Number(r.positive), mentions), negativeShare: share(Number(r.negative), mentions),
        avgScore: round(Number(r.avg_score)),
      }
    }),
    topAuthors: { byReach: byReach.map(toAuthor), byEngagement: byEngagement.map(toAuthor) },
    topics: {
      since: new Date(topicSinceMs).toISOString(),
      until: new Date(untilMs).toISOString(),
      previousSince: new Date(topicPreviousMs).toISOString(),
      phrases: emergingTopics(topicTexts, previousTexts, { brand, top }),
    },
    spikes,
    alerts: {
      enabled: raise,
      raised,
      existing: existingCount,
      webhook: { configured: webhookUrl !== undefined, delivered, failed: errors.length, errors },
    },
    settings: {
      k: spikeOptions.k!, baselineDays, minHistoryDays: spikeOptions.minHistoryDays!, minCount: spikeOptions.minCount!,
    },
  }
  return report
})
