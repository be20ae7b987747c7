-- computed_trait_states again, with index_granularity = 256 (was the default 8192). A profile read takes one profile's
-- key range, but the engine reads whole granules: with 8192 rows a granule, one profile's four traits cost 4 granules
-- (one per part), about 33,000 rows and 11.5 MB of aggregate states to deserialise, 12-18 ms of the read at 1M events;
-- with 256 rows it is a few hundred rows and 0.1 MB, 3-4 ms (test/bench/profiles.ts, README "Reading fast"). Scans
-- over one trait (segments, the computed_traits view) read the same bytes either way; the primary index grows 32-fold
-- (one mark per 256 rows), a few MB at 10M events. The setting cannot be changed on a table, so the table is built
-- anew under a staging name, filled with the old table's rows, and renamed into place.
-- Engine: AggregatingMergeTree, as in 075 (inserts merge into one row per key).
-- Partition: none, as in 075. Order key: (tenant, profile_id, name, version, day), as in 075: a profile read takes
--   one key range. The definitions table, the materialized views and the computed_traits view are 075's, unchanged.
--
-- Every step can run again after a crash: the staging copy takes each key whole (its states merged into one row)
-- and only keys it does not hold yet, and reads the old table through a Merge table, which reads nothing once the old
-- table is gone. The materialized views are dropped first and created again last (migrations run before anything
-- lands). On a new warehouse this runs before 075: it creates the definitions table 075 would (same statement), and
-- 075's own statements then find everything in place.
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

CREATE TABLE IF NOT EXISTS computed_trait_states_044
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
ORDER BY (tenant, profile_id, name, version, day)
SETTINGS index_granularity = 256;

DROP VIEW IF EXISTS computed_trait_events_mv;
DROP VIEW IF EXISTS computed_trait_sentiment_mv;
DROP VIEW IF EXISTS computed_traits;

CREATE TABLE IF NOT EXISTS computed_trait_states_044_source
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
ENGINE = Merge(currentDatabase(), '^computed_trait_states$');

INSERT INTO computed_trait_states_044
SELECT tenant, profile_id, name, version, day, sum(n), sum(total), argMinMergeState(first), argMaxMergeState(last), sumMap(counts)
FROM computed_trait_states_044_source
WHERE (tenant, profile_id, name, version, day) NOT IN (SELECT tenant, profile_id, name, version, day FROM computed_trait_states_044)
GROUP BY tenant, profile_id, name, version, day;

DROP TABLE IF EXISTS computed_trait_states;
RENAME TABLE computed_trait_states_044 TO computed_trait_states;
DROP TABLE IF EXISTS computed_trait_states_044_source;

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
