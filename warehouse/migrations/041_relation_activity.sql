-- relation_activity_daily: what each profile did per day, kept current as events land (relational intelligence,
--   identity/relations/): how many events, and per "channel/name" (web/page, web/Order Completed, email/Email Opened,
--   call/Call:inbound, social/Tweet...) how many and their amount (an order's total, else revenue, else value: Segment's
--   e-commerce spec), first and last event time, and for social authors reach (impressions), engagement (likes,
--   reposts, replies, quotes) and followers. Which names are orders, visits or mail we sent is configuration, read
--   when scores are computed, so this table keeps the names themselves. `:inbound`/`:outbound` qualifies a name by its
--   `direction` property (calls), `:machine` an open a mail client made by itself (SendGrid's sg_machine_open).
--   profile_id is the profile at landing: readers map it to the current profile as `events` does (011), see
--   warehouse/relations.ts.
-- Engine: AggregatingMergeTree with SimpleAggregateFunction columns: a materialized view (below) adds one row per
--   (profile, day) per insert block; merges fold them, readers fold the rest with the same functions (sum, sumMap,
--   min, max). Keeping signals current costs an aggregation of the inserted block, not a scan of history.
-- Partition: by month of the day, as event_rows: "as of a date" reads prune later months.
-- Order key: (tenant, profile_id, day): all of a tenant's profiles are read in one pass, each profile's days in order.
CREATE TABLE IF NOT EXISTS relation_activity_daily
(
    tenant LowCardinality(String),
    profile_id String,
    day Date,
    events SimpleAggregateFunction(sum, UInt64),
    acts SimpleAggregateFunction(sumMap, Tuple(Array(String), Array(UInt64), Array(Float64))),
    first_at SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    reach SimpleAggregateFunction(sum, UInt64),
    engagement SimpleAggregateFunction(sum, UInt64),
    followers SimpleAggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, profile_id, day);

-- The same expressions are in warehouse/relations.ts (ACTIVITY_COLUMNS), which recomputes moved profiles from
-- event_rows; a test checks both give the same rows.
CREATE MATERIALIZED VIEW IF NOT EXISTS relation_activity_mv TO relation_activity_daily AS
SELECT
    tenant,
    profile_id,
    toDate(timestamp) AS day,
    count() AS events,
    sumMap(
        [concat(toString(channel), '/', if(type = 'track', concat(event, multiIf(
            JSONExtractString(properties, 'direction') != '', concat(':', JSONExtractString(properties, 'direction')),
            JSONExtractBool(properties, 'sg_machine_open'), ':machine', '')), toString(type)))],
        [toUInt64(1)],
        [if(type = 'track', multiIf(
            JSONHas(properties, 'total'), JSONExtractFloat(properties, 'total'),
            JSONHas(properties, 'revenue'), JSONExtractFloat(properties, 'revenue'),
            JSONExtractFloat(properties, 'value')), 0.)]
    ) AS acts,
    min(timestamp) AS first_at,
    max(timestamp) AS last_at,
    sum(if(channel = 'social', JSONExtractUInt(properties, 'public_metrics', 'impression_count'), 0)) AS reach,
    sum(if(channel = 'social', JSONExtractUInt(properties, 'public_metrics', 'like_count')
        + JSONExtractUInt(properties, 'public_metrics', 'retweet_count') + JSONExtractUInt(properties, 'public_metrics', 'reply_count')
        + JSONExtractUInt(properties, 'public_metrics', 'quote_count'), 0)) AS engagement,
    max(if(channel = 'social', JSONExtractUInt(properties, 'author_followers'), 0)) AS followers
FROM event_rows
GROUP BY tenant, profile_id, day;

-- What landed before this migration (an existing data dir); runs once, before anything else can land.
INSERT INTO relation_activity_daily
SELECT
    tenant,
    profile_id,
    toDate(timestamp) AS day,
    count() AS events,
    sumMap(
        [concat(toString(channel), '/', if(type = 'track', concat(event, multiIf(
            JSONExtractString(properties, 'direction') != '', concat(':', JSONExtractString(properties, 'direction')),
            JSONExtractBool(properties, 'sg_machine_open'), ':machine', '')), toString(type)))],
        [toUInt64(1)],
        [if(type = 'track', multiIf(
            JSONHas(properties, 'total'), JSONExtractFloat(properties, 'total'),
            JSONHas(properties, 'revenue'), JSONExtractFloat(properties, 'revenue'),
            JSONExtractFloat(properties, 'value')), 0.)]
    ) AS acts,
    min(timestamp) AS first_at,
    max(timestamp) AS last_at,
    sum(if(channel = 'social', JSONExtractUInt(properties, 'public_metrics', 'impression_count'), 0)) AS reach,
    sum(if(channel = 'social', JSONExtractUInt(properties, 'public_metrics', 'like_count')
        + JSONExtractUInt(properties, 'public_metrics', 'retweet_count') + JSONExtractUInt(properties, 'public_metrics', 'reply_count')
        + JSONExtractUInt(properties, 'public_metrics', 'quote_count'), 0)) AS engagement,
    max(if(channel = 'social', JSONExtractUInt(properties, 'author_followers'), 0)) AS followers
FROM event_rows
GROUP BY tenant, profile_id, day
