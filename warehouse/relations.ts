// The relational tables' one owner (migrations 040-042): each profile's daily activity and voice, kept current by
// materialized views as events and sentiment land, read as of a date and mapped to current profiles; and the stored
// relationship scores with the runs that wrote them.
import { Effect } from "effect"
import { currentProfileSql, type CurrentProfileSql } from "./current-profile.ts"
import { Warehouse } from "./warehouse.ts"

/** The days a run's as_of (a Date column: 1970-01-01 to 2149-06-06) holds; a day outside would be stored as its nearest. */
export const RUN_EARLIEST_DAY = "1970-01-01"
export const RUN_LATEST_DAY = "2149-06-06"

/** One day of one profile: what it did (per "channel/name": count and amount) and its social reach. */
export interface ActivityDay {
  readonly day: string
  readonly events: number
  readonly acts: ReadonlyArray<readonly [name: string, count: number, amount: number]>
  readonly reach: number
  readonly engagement: number
  readonly followers: number
}

/** One scored text of a profile (its latest scoring). */
export interface Said {
  readonly messageId: string
  readonly atMs: number
  readonly channel: string
  readonly source: string
  readonly score: number
  readonly label: string
}

export interface ProfileHistory {
  readonly profileId: string
  readonly days: ReadonlyArray<ActivityDay>
  readonly said: ReadonlyArray<Said>
}

/**
 * Where signals are read from: "incremental" reads the daily tables the materialized views keep (and recomputes from
 * history only the few profiles whose messages moved after landing); "history" recomputes every profile from
 * event_rows and sentiment (what a read would cost without the views: the benchmark's comparison, and a test that
 * both agree).
 */
export type SignalSource = "incremental" | "history"

// The materialized view's expressions (041), for the profiles recomputed from event_rows.
const ACTIVITY_COLUMNS = `
    count() AS events,
    sumMap(
        [concat(toString(e.channel), '/', if(e.type = 'track', concat(e.event, multiIf(
            JSONExtractString(e.properties, 'direction') != '', concat(':', JSONExtractString(e.properties, 'direction')),
            JSONExtractBool(e.properties, 'sg_machine_open'), ':machine', '')), toString(e.type)))],
        [toUInt64(1)],
        [if(e.type = 'track', multiIf(
            JSONHas(e.properties, 'total'), JSONExtractFloat(e.properties, 'total'),
            JSONHas(e.properties, 'revenue'), JSONExtractFloat(e.properties, 'revenue'),
            JSONExtractFloat(e.properties, 'value')), 0.)]
    ) AS acts,
    sum(if(e.channel = 'social', JSONExtractUInt(e.properties, 'public_metrics', 'impression_count'), 0)) AS reach,
    sum(if(e.channel = 'social', JSONExtractUInt(e.properties, 'public_metrics', 'like_count')
        + JSONExtractUInt(e.properties, 'public_metrics', 'retweet_count') + JSONExtractUInt(e.properties, 'public_metrics', 'reply_count')
        + JSONExtractUInt(e.properties, 'public_metrics', 'quote_count'), 0)) AS engagement,
    max(if(e.channel = 'social', JSONExtractUInt(e.properties, 'author_followers'), 0)) AS followers`

// The landing profiles of messages moved to another profile after they landed (merges, splits): their daily rows
// are read again from the messages, each under its current profile (warehouse/current-profile.ts).
const AFFECTED = `
    affected AS (SELECT DISTINCT profile_id FROM event_rows
                 WHERE tenant = {tenant:String} AND message_id IN (SELECT message_id FROM event_profiles WHERE tenant = {tenant:String}))`

// The day is a checked YYYY-MM-DD within Date's range (notARunDay), which warehouse/inline-params.ts writes into the
// statement as a literal: bound, every read of a tenant's history took chDB's process-wide turn for statements with
// parameters, and the pipeline's waited for it.
const activitySql = (source: SignalSource, current: CurrentProfileSql) => `
WITH ${AFFECTED}
SELECT profile_id, groupArray((toString(day), events, acts.1, acts.2, acts.3, reach, engagement, followers)) AS days
FROM
(
    SELECT profile_id, day, sum(events) AS events, sumMap(acts) AS acts, sum(reach) AS reach,
        sum(engagement) AS engagement, max(followers) AS followers
    FROM
    (
        ${source === "incremental" ? `
        SELECT profile_id, day, events, acts, reach, engagement, followers FROM relation_activity_daily
        WHERE tenant = {tenant:String} AND day <= {asOf:Date} AND profile_id NOT IN (SELECT profile_id FROM affected)
        UNION ALL` : ""}
        SELECT ${current.profileId} AS profile_id, toDate(e.timestamp) AS day, ${ACTIVITY_COLUMNS}
        FROM event_rows AS e ${current.join}
        WHERE e.tenant = {tenant:String} AND toDate(e.timestamp) <= {asOf:Date}
            ${source === "incremental" ? "AND e.profile_id IN (SELECT profile_id FROM affected)" : ""}
        GROUP BY profile_id, day
    )
    GROUP BY profile_id, day
    ORDER BY profile_id, day
)
GROUP BY profile_id`

const voiceSql = (source: SignalSource, current: CurrentProfileSql) => `
WITH ${AFFECTED}
SELECT profile_id,
    arraySort(x -> x.2, groupArray((message_id, toUnixTimestamp64Milli(at), channel, source, score, label))) AS said
FROM
(
    SELECT profile_id, message_id, argMax(at, scored_at) AS at, argMax(channel, scored_at) AS channel,
        argMax(source, scored_at) AS source, argMax(status, scored_at) AS status, argMax(score, scored_at) AS score,
        argMax(label, scored_at) AS label
    FROM
    (
        ${source === "incremental" ? `
        SELECT profile_id, s.message_id AS message_id, s.at AS at, s.scored_at AS scored_at, s.channel AS channel,
            s.source AS source, s.status AS status, s.score AS score, s.label AS label
        FROM relation_voice_daily ARRAY JOIN said AS s
        WHERE tenant = {tenant:String} AND day <= {asOf:Date} AND profile_id NOT IN (SELECT profile_id FROM affected)
        UNION ALL` : ""}
        SELECT ${current.profileId} AS profile_id, t.message_id AS message_id, t.timestamp AS at,
            t.scored_at AS scored_at, toString(t.channel) AS channel, toString(t.source) AS source,
            toString(t.status) AS status, t.score AS score, toString(t.label) AS label
        FROM sentiment AS t ${current.join}
        WHERE t.tenant = {tenant:String} AND toDate(t.timestamp) <= {asOf:Date}
            ${source === "incremental" ? "AND t.profile_id IN (SELECT profile_id FROM affected)" : ""}
    )
    GROUP BY profile_id, message_id
    HAVING status = 'scored'
)
GROUP BY profile_id`

type Num = number | string
interface ActivityRow {
  readonly profile_id: string
  readonly days: ReadonlyArray<readonly [string, Num, ReadonlyArray<string>, ReadonlyArray<Num>, ReadonlyArray<number>, Num, Num, Num]>
}
interface VoiceRow {
  readonly profile_id: string
  readonly said: ReadonlyArray<readonly [string, Num, string, string, number, string]>
}

/** Every profile's days and scored texts up to the end of `asOf` (YYYY-MM-DD), under its current profile id. */
export const readProfileHistories = Effect.fn("readProfileHistories")(function* (tenant: string, asOf: string, source: SignalSource = "incremental") {
  const warehouse = yield* Warehouse
  const events = currentProfileSql(tenant, "e", "m")
  const texts = currentProfileSql(tenant, "t", "m")
  const activity = yield* warehouse.query<ActivityRow>(activitySql(source, events), { params: { tenant, asOf, ...events.params } })
  const voice = yield* warehouse.query<VoiceRow>(voiceSql(source, texts), { params: { tenant, asOf, ...texts.params } })
  const saidOf = new Map<string, Array<Said>>()
  for (const r of voice) {
    saidOf.set(r.profile_id, r.said.map(([messageId, at, channel, src, score, label]) => ({
      messageId, atMs: Number(at), channel, source: src, score: Number(score), label,
    })))
  }
  const histories: Array<ProfileHistory> = []
  for (const r of activity) {
    const days = r.days.map(([day, events, names, counts, amounts, reach, engagement, followers]): ActivityDay => ({
      day,
      events: Number(events),
      acts: names.map((n, i) => [n, Number(counts[i]), Number(amounts[i])] as const),
      reach: Number(reach),
      engagement: Number(engagement),
      followers: Number(followers),
    }))
    histories.push({ profileId: r.profile_id, days: [...days].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0)), said: saidOf.get(r.profile_id) ?? [] })
    saidOf.delete(r.profile_id)
  }
  // A profile known only by what it wrote (no event yet up to the date) still has a history.
  for (const [profileId, said] of saidOf) histories.push({ profileId, days: [], said })
  return histories.sort((a, b) => (a.profileId < b.profileId ? -1 : a.profileId > b.profileId ? 1 : 0))
})

export interface StoredScore {
  readonly profileId: string
  readonly relationshipType: string
  readonly healthScore: number
  readonly churnRisk: number
  readonly sentimentLevel: number | null
  readonly sentimentTrend: number | null
  readonly factors: ReadonlyArray<string>
  readonly signals: Record<string, unknown>
}

const chTime = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 23)

/** Stores one run: every profile's scores as of `asOf`, then the run itself (which makes them the current ones). */
export const storeScores = Effect.fn("storeScores")(function* (tenant: string, asOf: string, scores: ReadonlyArray<StoredScore>, computedAtMs: number) {
  const warehouse = yield* Warehouse
  const computedAt = chTime(computedAtMs)
  // Each insert's rows are encoded in one go on the event loop: 20,000 at once held it 0.3 s in cdp serve.
  const CHUNK = 5_000
  for (let i = 0; i < scores.length; i += CHUNK) {
    yield* warehouse.insert("relation_scores", scores.slice(i, i + CHUNK).map((s) => ({
      tenant, as_of: asOf, profile_id: s.profileId, relationship_type: s.relationshipType, health_score: s.healthScore,
      churn_risk: s.churnRisk, sentiment_level: s.sentimentLevel, sentiment_trend: s.sentimentTrend, factors: s.factors,
      signals: JSON.stringify(s.signals), computed_at: computedAt,
    })))
  }
  yield* warehouse.insert("relation_runs", [{ tenant, as_of: asOf, computed_at: computedAt, profiles: scores.length }])
})

export interface RunInfo {
  readonly asOf: string
  readonly computedAt: string
  readonly profiles: number
}

/** The runs of a tenant, latest first. */
/** Tenants with any activity in the relational tables (those a scheduled compute brings up to date). */
export const relationTenants = Effect.fn("relationTenants")(function* () {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ tenant: string }>("SELECT DISTINCT tenant FROM relation_activity_daily ORDER BY tenant")
  return rows.map((r) => r.tenant)
})

export const readRuns = Effect.fn("readRuns")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ as_of: string; computed_at: string; profiles: string }>(
    "SELECT toString(as_of) AS as_of, toString(computed_at) AS computed_at, profiles FROM relation_runs " +
      "WHERE tenant = {tenant:String} ORDER BY computed_at DESC", { params: { tenant } })
  return rows.map((r): RunInfo => ({ asOf: r.as_of, computedAt: r.computed_at, profiles: Number(r.profiles) }))
})

interface ScoreRow {
  readonly profile_id: string
  readonly relationship_type: string
  readonly health_score: number
  readonly churn_risk: number
  readonly sentiment_level: number | null
  readonly sentiment_trend: number | null
  readonly factors: Array<string>
  readonly signals: string
}

/** The stored scores of the latest run for `asOf` (optionally of one profile). */
export const readStoredScores = Effect.fn("readStoredScores")(function* (tenant: string, asOf: string, profileId?: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<ScoreRow>(
    "SELECT profile_id, relationship_type, health_score, churn_risk, sentiment_level, sentiment_trend, factors, signals " +
      "FROM relation_scores FINAL WHERE tenant = {tenant:String} AND as_of = {asOf:Date}" +
      (profileId === undefined ? "" : " AND profile_id = {profileId:String}") + " ORDER BY profile_id",
    { params: { tenant, asOf, ...(profileId === undefined ? {} : { profileId }) } })
  return rows.map((r): StoredScore => ({
    profileId: r.profile_id, relationshipType: r.relationship_type, healthScore: Number(r.health_score),
    churnRisk: Number(r.churn_risk), sentimentLevel: r.sentiment_level === null ? null : Number(r.sentiment_level),
    sentimentTrend: r.sentiment_trend === null ? null : Number(r.sentiment_trend), factors: r.factors,
    signals: JSON.parse(r.signals) as Record<string, unknown>,
  }))
})

/** One profile's scores from the latest run of its tenant (undefined when that run did not score it). */
export const readLatestScore = Effect.fn("readLatestScore")(function* (tenant: string, profileId: string) {
  return (yield* readLatestScores(tenant, [profileId])).get(profileId)
})

/** readLatestScore of many profiles in one statement (profile documents, warehouse/profile-documents.ts), by profile. */
export const readLatestScores = Effect.fn("readLatestScores")(function* (tenant: string, profileIds: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<ScoreRow & { as_of: string; computed_at: string }>(
    "SELECT profile_id, relationship_type, health_score, churn_risk, sentiment_level, sentiment_trend, factors, signals, " +
      "toString(as_of) AS as_of, toString(computed_at) AS computed_at FROM relation_scores FINAL " +
      "WHERE tenant = {tenant:String} AND profile_id IN {profileIds:Array(String)} AND (as_of, computed_at) IN " +
      "(SELECT argMax(as_of, computed_at), max(computed_at) FROM relation_runs WHERE tenant = {tenant:String})",
    { params: { tenant, profileIds } })
  return new Map(rows.map((r) => [r.profile_id, {
    asOf: r.as_of, computedAt: r.computed_at, relationshipType: r.relationship_type, healthScore: Number(r.health_score),
    churnRisk: Number(r.churn_risk), sentimentTrend: r.sentiment_trend === null ? null : Number(r.sentiment_trend), factors: r.factors,
  }]))
})

/** The relationship type of every profile in the latest run for `asOf`: what a series over many dates reads. */
export const readStoredTypes = Effect.fn("readStoredTypes")(function* (tenant: string, asOf: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ profile_id: string; relationship_type: string }>(
    "SELECT profile_id, relationship_type FROM relation_scores FINAL WHERE tenant = {tenant:String} AND as_of = {asOf:Date}",
    { params: { tenant, asOf } })
  return new Map(rows.map((r) => [r.profile_id, r.relationship_type]))
})
