-- profiles, again (040, unchanged in what it shows), with its traits, trait_sources and trait_times read from
--   profile_traits (056) instead of a copy of the same ranking: one definition for `profiles` and audiences.
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
LEFT JOIN profile_traits AS tr ON tr.tenant = e.tenant AND tr.profile_id = e.profile_id
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
