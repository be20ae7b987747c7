-- profiles: one row per unified profile, what downstream CRMs read: first and last seen, events per channel, the
--   profile's identifiers (normalised), its traits merged last-write-wins per trait by event time (each value as
--   its JSON text), and its latest sentiment (NULL when none was scored). Always current: merges and splits show at
--   once.
-- Engine: a view over events, identity_nodes and sentiment (no storage of its own); it aggregates at read time, so a
--   read of all profiles costs a scan of the tenant's events (fine for exports; a single profile is filtered by id).
-- Partition: none of its own. Order key: none of its own; filter by tenant and profile_id.
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
    if(s.label = '', NULL, s.label) AS latest_sentiment_label,
    if(s.label = '', NULL, s.score) AS latest_sentiment_score,
    if(s.label = '', NULL, s.at) AS latest_sentiment_at
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
    SELECT tenant, profile_id, mapFromArrays(groupArray(name), groupArray(value)) AS traits
    FROM
    (
        SELECT tenant, profile_id, kv.1 AS name, argMax(kv.2, timestamp) AS value
        FROM events ARRAY JOIN JSONExtractKeysAndValuesRaw(traits) AS kv
        WHERE kv.2 NOT IN ('null', '""')
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
