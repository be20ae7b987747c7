-- relation_scores: each profile's relationship with the brand as of a date (identity/relations/): its type, health
--   score 0-100, churn risk 0-1, sentiment level and trend, and the evidence (top factors, in words, with their
--   values) and signals behind them. `cdp relations compute --as-of DATE` writes one run: every profile's scores from
--   the data up to that date.
-- Engine: ReplacingMergeTree(computed_at): computing the same date again replaces that date's rows; earlier dates
--   stay, so how a relationship moved can be read back (cdp relations summary).
-- Partition: none; one row per profile per computed date. Order key: (tenant, as_of, profile_id): a run is read whole.
CREATE TABLE IF NOT EXISTS relation_scores
(
    tenant LowCardinality(String),
    as_of Date,
    profile_id String,
    relationship_type LowCardinality(String),
    health_score UInt8,
    churn_risk Float32,
    sentiment_level Nullable(Float32),
    sentiment_trend Nullable(Float32),
    factors Array(String),
    signals String,
    computed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (tenant, as_of, profile_id);

-- relation_runs: one row per `cdp relations compute`: which date it brought the scores to, when, how many profiles.
--   `profiles` shows the latest run of each tenant.
-- Engine: MergeTree, append-only (a row per run). Partition: none. Order key: (tenant, computed_at).
CREATE TABLE IF NOT EXISTS relation_runs
(
    tenant LowCardinality(String),
    as_of Date,
    computed_at DateTime64(3, 'UTC'),
    profiles UInt64
)
ENGINE = MergeTree
ORDER BY (tenant, computed_at);

-- profiles, again: engineer B's definition of 017 (trait precedence), unchanged, with the relational columns of the
--   latest `cdp relations compute` LEFT JOINed (NULL for a profile it has not scored yet): relationship_type,
--   health_score, churn_risk, sentiment_trend, relationship_factors (the evidence) and relationship_as_of.
-- Engine, partition, order key: as in 013 (a view).
DROP VIEW IF EXISTS profiles;
CREATE VIEW IF NOT EXISTS profiles AS
SELECT
    e.tenant AS tenant,
    e.profile_id AS profile_id,
    e.first_seen AS first_seen,
    e.last_seen AS last_seen,
    e.events AS events,
    e.channels AS channels,
    e.events_web AS events_web,
    e.events_email AS events_email,
    e.events_chat AS events_chat,
    e.events_call AS events_call,
    e.events_social AS events_social,
    ids.identifiers AS identifiers,
    tr.traits AS traits,
    tr.trait_sources AS trait_sources,
    tr.trait_times AS trait_times,
    if(s.label = '', NULL, s.label) AS latest_sentiment_label,
    if(s.label = '', NULL, s.score) AS latest_sentiment_score,
    if(s.label = '', NULL, s.at) AS latest_sentiment_at,
    if(rel.relationship_type = '', NULL, rel.relationship_type) AS relationship_type,
    if(rel.relationship_type = '', NULL, rel.health_score) AS health_score,
    if(rel.relationship_type = '', NULL, rel.churn_risk) AS churn_risk,
    if(rel.relationship_type = '', NULL, rel.sentiment_trend) AS sentiment_trend,
    rel.factors AS relationship_factors,
    if(rel.relationship_type = '', NULL, rel.as_of) AS relationship_as_of
FROM
(
    SELECT tenant, profile_id, min(timestamp) AS first_seen, max(timestamp) AS last_seen, count() AS events,
        arraySort(groupUniqArray(toString(channel))) AS channels,
        countIf(channel = 'web') AS events_web, countIf(channel = 'email') AS events_email,
        countIf(channel = 'chat') AS events_chat, countIf(channel = 'call') AS events_call,
        countIf(channel = 'social') AS events_social
    FROM events GROUP BY tenant, profile_id
) AS e
LEFT JOIN
(
    SELECT tenant, profile_id, arraySort(groupUniqArray((toString(kind), value))) AS identifiers
    FROM (SELECT tenant, kind, value, slice, argMax(profile_id, version) AS profile_id FROM identity_nodes GROUP BY tenant, kind, value, slice)
    GROUP BY tenant, profile_id
) AS ids ON ids.tenant = e.tenant AND ids.profile_id = e.profile_id
LEFT JOIN
(
    SELECT tenant, profile_id, mapFromArrays(groupArray(name), groupArray(best.1)) AS traits,
        mapFromArrays(groupArray(name), groupArray(best.2)) AS trait_sources,
        mapFromArrays(groupArray(name), groupArray(best.3)) AS trait_times
    FROM
    (
        SELECT tenant, profile_id, name, argMax((value, source, timestamp), (rank, timestamp, message_id)) AS best
        FROM
        (
            WITH (
                SELECT mapFromArrays(groupArray(concat(scope, '/', trait)), groupArray(sources)) FROM trait_precedence
                WHERE version = (SELECT max(version) FROM trait_precedence)
            ) AS lists
            SELECT tenant, profile_id, message_id, toString(source) AS source, timestamp, kv.1 AS name, kv.2 AS value,
                lists[arrayFirst(k -> mapContains(lists, k),
                    [concat(tenant, '/', name), concat(tenant, '/*'), concat('*/', name), '*/*'])] AS ranked,
                arrayFilter(i -> i > 0, [indexOf(ranked, source), if(user_id != '', indexOf(ranked, concat(source, ':identified')), 0)]) AS found,
                if(empty(found), 0, length(ranked) + 1 - arrayMin(found)) AS rank
            FROM events ARRAY JOIN JSONExtractKeysAndValuesRaw(traits) AS kv
            WHERE kv.2 NOT IN ('null', '""')
        )
        GROUP BY tenant, profile_id, name
    )
    GROUP BY tenant, profile_id
) AS tr ON tr.tenant = e.tenant AND tr.profile_id = e.profile_id
LEFT JOIN
(
    SELECT ev.tenant AS tenant, ev.profile_id AS profile_id, argMax(st.label, st.timestamp) AS label,
        argMax(st.score, st.timestamp) AS score, max(st.timestamp) AS at
    FROM sentiment AS st INNER JOIN events AS ev ON ev.tenant = st.tenant AND ev.message_id = st.message_id
    WHERE st.status = 'scored'
    GROUP BY ev.tenant, ev.profile_id
) AS s ON s.tenant = e.tenant AND s.profile_id = e.profile_id
LEFT JOIN
(
    SELECT tenant, profile_id, relationship_type, health_score, churn_risk, sentiment_trend, factors, as_of
    FROM relation_scores FINAL
    WHERE (tenant, as_of, computed_at) IN (SELECT tenant, argMax(as_of, computed_at), max(computed_at) FROM relation_runs GROUP BY tenant)
) AS rel ON rel.tenant = e.tenant AND rel.profile_id = e.profile_id
