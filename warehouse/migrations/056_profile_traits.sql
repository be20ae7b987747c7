-- profile_traits: each profile's traits by source precedence and nothing else (traits, trait_sources, trait_times;
--   the ranking of 017: the highest-ranked source's statement, then the latest by event time, then the highest message
--   id). Audience trait conditions read it (warehouse/audiences.ts) instead of `profiles`, which computes every column
--   (event counts per channel, identifiers, latest sentiment, relationship) whatever is read; and `profiles` takes its
--   traits from it (057), so the ranking is written once. Only messages that state traits are read (most do not).
-- Engine: a view, no storage of its own. Partition: none of its own (event_rows' monthly partitions are read through
--   `events`). Order key: none of its own (event_rows' (tenant, profile_id, ...) serves the tenant filter).
CREATE VIEW IF NOT EXISTS profile_traits AS
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
        FROM (SELECT tenant, profile_id, message_id, source, user_id, timestamp, traits FROM events WHERE traits != '{}')
        ARRAY JOIN JSONExtractKeysAndValuesRaw(traits) AS kv
        WHERE kv.2 NOT IN ('null', '""')
    )
    GROUP BY tenant, profile_id, name
)
GROUP BY tenant, profile_id
