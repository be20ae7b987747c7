// Social listening's SQL (sentiment/listen.ts builds the report from it): mentions, days, aspects, authors and the
// alerts already raised. The alerts table's one owner (migration 006).
import { Effect } from "effect"
import { type Row, Warehouse } from "./warehouse.ts"

// ── SQL ─────────────────────────────────────────────────────────────────────────────────────────────────────────
// Every value arrives as a ClickHouse parameter. `spam` is the ids filtered out here (the classifier needs the
// texts, so it cannot run in SQL); FINAL gives exact figures on the replacing tables.

const TIME = "DateTime64(3, 'UTC')"
const ENGAGEMENT = `(JSONExtractInt(e.properties, 'public_metrics', 'like_count')
  + JSONExtractInt(e.properties, 'public_metrics', 'retweet_count')
  + JSONExtractInt(e.properties, 'public_metrics', 'reply_count')
  + JSONExtractInt(e.properties, 'public_metrics', 'quote_count'))`
const HANDLE_ID = "arrayFirst(i -> tupleElement(i, 'kind') IN ('twitter_handle', 'social_handle'), e.identifiers)"
const HANDLE = `if(tupleElement(${HANDLE_ID}, 'kind') = 'twitter_handle',
  concat('@', tupleElement(${HANDLE_ID}, 'value')), tupleElement(${HANDLE_ID}, 'value'))`
const MENTIONS_IN = (from: string, until: string) => `e.tenant = {tenant:String} AND e.channel = 'social'
  AND e.timestamp >= {${from}:${TIME}} AND e.timestamp < {${until}:${TIME}}`
const NOT_SPAM = "e.message_id NOT IN {spam:Array(String)}"

export const FEATURES_SQL = `
SELECT e.message_id AS id, toUnixTimestamp64Milli(e.timestamp) AS ms, t.text AS text,
  JSONExtract(e.properties, 'urls', 'Array(String)') AS urls,
  length(JSONExtractArrayRaw(e.properties, 'hashtags')) AS hashtags,
  length(JSONExtractArrayRaw(e.properties, 'mentions')) AS mentions,
  JSONExtract(e.properties, 'author_followers', 'Nullable(Int64)') AS followers,
  JSONExtractString(e.properties, 'author_description') AS description,
  ${HANDLE} AS handle,
  ${ENGAGEMENT} AS engagement
FROM events AS e
LEFT JOIN (SELECT message_id, text FROM texts FINAL
  WHERE tenant = {tenant:String} AND timestamp >= {from:${TIME}} AND timestamp < {until:${TIME}}) AS t
  ON t.message_id = e.message_id
WHERE ${MENTIONS_IN("from", "until")}`

// Baseline days are whole days; the period's first day starts at `since`.
export const DAYS_SQL = `
SELECT toString(toDate(e.timestamp)) AS day, count() AS mentions,
  countIf(s.label = 'positive') AS positive, countIf(s.label = 'negative') AS negative,
  sum(JSONExtractInt(e.properties, 'author_followers')) AS reach,
  sum(JSONExtractInt(e.properties, 'public_metrics', 'impression_count')) AS impressions,
  sum(${ENGAGEMENT}) AS engagement
FROM events AS e
LEFT JOIN (SELECT message_id, label FROM sentiment FINAL
  WHERE tenant = {tenant:String} AND timestamp >= {from:${TIME}} AND timestamp < {until:${TIME}}) AS s
  ON s.message_id = e.message_id
WHERE ${MENTIONS_IN("from", "until")} AND (e.timestamp >= {since:${TIME}} OR e.timestamp < {sinceDay:${TIME}})
  AND ${NOT_SPAM}
GROUP BY day ORDER BY day`

export const ASPECTS_SQL = `
SELECT tupleElement(a, 'aspect') AS aspect, count() AS mentions,
  countIf(tupleElement(a, 'label') = 'positive') AS positive, countIf(tupleElement(a, 'label') = 'negative') AS negative,
  avg(tupleElement(a, 'score')) AS avg_score
FROM sentiment FINAL ARRAY JOIN aspects AS a
WHERE tenant = {tenant:String} AND timestamp >= {since:${TIME}} AND timestamp < {until:${TIME}}
  AND message_id IN (SELECT e.message_id FROM events AS e WHERE ${MENTIONS_IN("since", "until")} AND ${NOT_SPAM})
GROUP BY aspect ORDER BY mentions DESC, aspect`

const AUTHOR_ROWS = `
SELECT ${HANDLE} AS handle, JSONExtractString(e.traits, 'name') AS name,
  JSONExtractInt(e.properties, 'author_followers') AS followers, ${ENGAGEMENT} AS engagement, e.timestamp AS ts
FROM events AS e
WHERE ${MENTIONS_IN("since", "until")} AND ${NOT_SPAM}`

// Authors who objected to being listened to (consent) are counted, never listed.
const authorsSql = (order: string) => `
SELECT handle, argMax(name, ts) AS name, max(followers) AS followers, count() AS mentions, sum(engagement) AS engagement
FROM (${AUTHOR_ROWS} AND e.profile_id NOT IN {objected:Array(String)}) WHERE handle != ''
GROUP BY handle ORDER BY ${order}, handle LIMIT {top:UInt32}`
export const AUTHORS_BY_REACH_SQL = authorsSql("followers DESC, engagement DESC, mentions DESC")
export const AUTHORS_BY_ENGAGEMENT_SQL = authorsSql("engagement DESC, followers DESC, mentions DESC")
export const AUTHOR_COUNT_SQL = `SELECT uniqExact(handle) AS authors FROM (${AUTHOR_ROWS}) WHERE handle != ''`

export const EXISTING_ALERTS_SQL = `
SELECT alert_id, notified, toString(raised_at) AS raised_at FROM alerts FINAL WHERE tenant = {tenant:String} AND alert_id IN {ids:Array(String)}`

export const storeAlerts = Effect.fn("storeAlerts")(function* (rows: ReadonlyArray<Row>) {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("alerts", rows)
})
