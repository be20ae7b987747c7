-- profiles, again (013), with traits merged by source precedence: per trait, the statement of the highest-ranked
--   source (trait_precedence, 016: the tenant's list for the trait, else its "*" list, else the "*" tenant's) wins,
--   then the latest by event time, then the highest message id; so arrival order, merges and splits change nothing.
--   trait_sources and trait_times say where and when each shown value was stated. A `SOURCE:identified` entry ranks
--   that source's messages that carry a userId (a logged-in identify).
-- Engine: a view, as in 013 (no storage of its own).
-- Partition: none of its own. Order key: none of its own.
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
