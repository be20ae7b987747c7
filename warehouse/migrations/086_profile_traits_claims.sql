-- profile_traits, again (056, unchanged otherwise), without a trait statement whose value a profile's messages only
--   claimed: identity refused the link because another user id holds the value (identity/graph.ts claimedReason), so
--   u10's traits.email naming u11's address is not u10's e-mail in profile_traits nor in `profiles` (057 reads it),
--   which analysts query (`cdp query`). The rule of profile reads (identity/profile.ts statesClaimed) and of
--   warehouse/profiles.ts CLAIMED_BY_PROFILE_SQL, for every tenant at once: the claims kept apart in identity_claims
--   (085) whose link is still refused as a claim (its latest resolution in identity_links, by the whole key), by the
--   profile their message belongs to now, as the message wrote the value (the sighting's raw text: what its traits
--   hold). The statement is dropped before the ranking, so the trait falls back to the profile's next statement of it.
--   The prefix is warehouse/profiles.ts CLAIMED_REASON_START.
-- Cost: the check is skipped whole when the reader sees no row in identity_claims ((SELECT count() FROM identity_claims)
--   = 0 is a constant of the query): an analyst's query (`cdp query`) sees its tenant's rows only, so a tenant without
--   claims (most) pays nothing; other readers (audiences) skip it while no tenant has claims. Else identity_links,
--   events and identity_observations are read by key sets built from identity_claims' few rows.
-- Engine: a view, no storage of its own. Partition: none of its own (event_rows' monthly partitions are read through
--   `events`). Order key: none of its own (event_rows' (tenant, profile_id, ...) serves the tenant filter).
DROP VIEW IF EXISTS profile_traits;
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
        WHERE kv.2 NOT IN ('null', '""') AND ((SELECT count() FROM identity_claims) = 0 OR (tenant, profile_id, JSONExtractString(kv.2)) NOT IN
        (
            SELECT ev.tenant, ev.profile_id, o.raw
            FROM
            (
                SELECT tenant, message_id, s.raw AS raw FROM identity_observations ARRAY JOIN sightings AS s
                WHERE (tenant, message_id) IN (SELECT tenant, message_id FROM identity_claims)
                    AND (tenant, message_id, concat(toString(s.kind), ':', s.value)) IN
                    (
                        SELECT tenant, message_id, b FROM identity_links
                        WHERE (tenant, a, b, message_id) IN (SELECT tenant, a, b, message_id FROM identity_claims)
                        GROUP BY tenant, a, b, message_id
                        HAVING argMax(status, resolved_at) = 'refused' AND startsWith(argMax(reason, resolved_at), 'stated by a second ')
                    )
            ) AS o
            INNER JOIN
            (
                SELECT tenant, message_id, profile_id FROM events WHERE (tenant, message_id) IN (SELECT tenant, message_id FROM identity_claims)
            ) AS ev ON ev.tenant = o.tenant AND ev.message_id = o.message_id
        ))
    )
    GROUP BY tenant, profile_id, name
)
GROUP BY tenant, profile_id
