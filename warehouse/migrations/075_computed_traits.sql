-- computed_trait_definitions: the computed traits of CDP_COMPUTED_TRAITS (identity/computed-traits.ts), one row per
--   (scope, name): scope is a tenant or "*" (every tenant). `version` is a hash of the definition, so a changed
--   definition starts new states instead of mixing with the old ones; `defined_at` splits the work between the
--   backfill (rows that landed up to then) and the materialized views below (rows that land after), so no row is
--   counted twice or missed. `active` = 0 when a definition left the setting.
-- Engine: ReplacingMergeTree(defined_at): the latest row of a (scope, name) is the definition in force.
-- Partition: none (a few rows). Order key: (scope, name).
CREATE TABLE IF NOT EXISTS computed_trait_definitions
(
    scope String,
    name String,
    version UInt64,
    kind LowCardinality(String),
    events Array(String),
    channels Array(String),
    field String,
    property String,
    window_days UInt16,
    defined_at DateTime64(3, 'UTC'),
    active UInt8
)
ENGINE = ReplacingMergeTree(defined_at)
ORDER BY (scope, name);

-- computed_trait_states: per profile (as landed), trait and day, partial aggregates of what the trait's events
--   stated: how many (n), their numeric sum (total), the first and the last value by event time, and how often each
--   value came (counts, for most_frequent). Windows ("last 30 days") sum the days inside them at read time; merges
--   add states up, so a profile's value is kept current without re-reading its events.
-- Engine: AggregatingMergeTree: inserts (one per landed batch) merge into one row per key in the background.
-- Partition: none; rows are small and read by profile. Order key: (tenant, profile_id, name, version, day): a
--   profile read takes one key range; a segment over one trait reads the tenant's range.
CREATE TABLE IF NOT EXISTS computed_trait_states
(
    tenant LowCardinality(String),
    profile_id String,
    name LowCardinality(String),
    version UInt64,
    day Date,
    n SimpleAggregateFunction(sum, UInt64),
    total SimpleAggregateFunction(sum, Float64),
    first AggregateFunction(argMin, String, Tuple(DateTime64(3, 'UTC'), String, DateTime64(3, 'UTC'))),
    last AggregateFunction(argMax, String, Tuple(DateTime64(3, 'UTC'), String, DateTime64(3, 'UTC'))),
    counts SimpleAggregateFunction(sumMap, Tuple(Array(String), Array(UInt64)))
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant, profile_id, name, version, day);

-- What landed events add to the states of every definition in force for their tenant (the backfill in
-- warehouse/computed-traits.ts runs the same SELECT over rows that landed before the definition: keep them alike).
-- The value of an event is its JSON text: a top-level property (`properties.X`) or the event's name or channel.
CREATE MATERIALIZED VIEW IF NOT EXISTS computed_trait_events_mv TO computed_trait_states AS
SELECT tenant, profile_id, name, version, day, count() AS n, sum(num) AS total,
    argMinState(v, (timestamp, message_id, ingested_at)) AS first, argMaxState(v, (timestamp, message_id, ingested_at)) AS last,
    sumMap(if(kind = 'most_frequent', [v], []), if(kind = 'most_frequent', [toUInt64(1)], [])) AS counts
FROM
(
    SELECT e.tenant AS tenant, e.profile_id AS profile_id, d.name AS name, d.version AS version, d.kind AS kind,
        toDate(e.timestamp) AS day, e.timestamp AS timestamp, e.message_id AS message_id, e.ingested_at AS ingested_at,
        multiIf(d.field = 'event', toJSONString(e.event), d.field = 'channel', toJSONString(toString(e.channel)),
            d.field = 'property', JSONExtractRaw(e.properties, d.property), '') AS v,
        toFloat64OrZero(trim(BOTH '"' FROM v)) AS num
    FROM event_rows AS e
    INNER JOIN (SELECT * FROM computed_trait_definitions FINAL WHERE active = 1 AND kind != 'latest_sentiment') AS d
        ON d.scope = e.tenant OR d.scope = '*'
    WHERE e.ingested_at > d.defined_at
        AND (empty(d.events) OR has(d.events, e.event))
        AND (empty(d.channels) OR has(d.channels, toString(e.channel)))
        AND (d.field = '' OR v NOT IN ('', 'null'))
)
GROUP BY tenant, profile_id, name, version, day;

-- What scored texts add to latest_sentiment definitions: the last value is {"label", "score"} by the text's event
-- time (a rescoring, later scored_at, wins at an equal time).
CREATE MATERIALIZED VIEW IF NOT EXISTS computed_trait_sentiment_mv TO computed_trait_states AS
SELECT tenant, profile_id, name, version, day, count() AS n, sum(score) AS total,
    argMinState(v, (timestamp, message_id, scored_at)) AS first, argMaxState(v, (timestamp, message_id, scored_at)) AS last,
    CAST(([], []), 'Tuple(Array(String), Array(UInt64))') AS counts
FROM
(
    SELECT s.tenant AS tenant, s.profile_id AS profile_id, d.name AS name, d.version AS version, toDate(s.timestamp) AS day,
        s.timestamp AS timestamp, s.message_id AS message_id, s.scored_at AS scored_at, toFloat64(s.score) AS score,
        concat('{"label":', toJSONString(toString(s.label)), ',"score":', toString(round(toFloat64(s.score), 3)), '}') AS v
    FROM sentiment AS s
    INNER JOIN (SELECT * FROM computed_trait_definitions FINAL WHERE active = 1 AND kind = 'latest_sentiment') AS d
        ON d.scope = s.tenant OR d.scope = '*'
    WHERE s.scored_at > d.defined_at AND s.status = 'scored'
        AND (empty(d.channels) OR has(d.channels, toString(s.channel)))
)
GROUP BY tenant, profile_id, name, version, day;

-- computed_traits: one row per (tenant, current profile, trait in force): the trait's value as JSON text and, when it
--   is a number, as one (segments: `SELECT profile_id FROM computed_traits WHERE name = 'orders_30d' AND number >= 3`).
--   States of a profile that a merge moved are added to the profile it moved to; known limit: after a split, the
--   states of the split profile's messages stay with the profile that holds the most recently moved of them (the
--   profile read, GET /v1/profiles, checks for this and recomputes from the events instead).
-- Engine: a view, no storage of its own. Partition, order key: computed_trait_states'.
CREATE VIEW IF NOT EXISTS computed_traits AS
SELECT tenant, profile_id, name, kind, n AS events,
    multiIf(kind = 'count', toString(n), kind = 'sum', toString(total), kind = 'first', f, kind IN ('last', 'latest_sentiment'), l,
        kind = 'most_frequent', if(empty(c.1), '', c.1[indexOf(c.2, arrayMax(c.2))]), '') AS value,
    multiIf(kind = 'count', toFloat64(n), kind = 'sum', total, kind = 'latest_sentiment', JSONExtractFloat(l, 'score'),
        toFloat64OrNull(trim(BOTH '"' FROM value))) AS number
FROM
(
    SELECT s.tenant AS tenant, if(moved.current != '', moved.current, s.profile_id) AS profile_id, s.name AS name, any(d.kind) AS kind,
        sumIf(s.n, d.window_days = 0 OR s.day > today() - d.window_days) AS n,
        sumIf(s.total, d.window_days = 0 OR s.day > today() - d.window_days) AS total,
        argMinMerge(s.first) AS f, argMaxMerge(s.last) AS l,
        sumMapIf(s.counts, d.window_days = 0 OR s.day > today() - d.window_days) AS c
    FROM computed_trait_states AS s
    INNER JOIN (SELECT * FROM computed_trait_definitions FINAL WHERE active = 1) AS d
        ON d.name = s.name AND d.version = s.version AND (d.scope = s.tenant OR d.scope = '*')
    LEFT JOIN
    (
        SELECT r.tenant AS tenant, r.profile_id AS landed, argMax(m.profile_id, m.version) AS current
        FROM event_rows AS r
        INNER JOIN event_profiles AS m ON m.tenant = r.tenant AND m.message_id = r.message_id
        WHERE r.message_id IN (SELECT message_id FROM event_profiles)
        GROUP BY r.tenant, r.profile_id
    ) AS moved ON moved.tenant = s.tenant AND moved.landed = s.profile_id
    GROUP BY tenant, profile_id, name
)
