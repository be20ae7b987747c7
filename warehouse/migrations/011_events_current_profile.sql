-- events becomes a view that shows each message's *current* profile: the rows land in event_rows (the former events
-- table, unchanged: engine, partition, order key and message_id index as in 002 and 008), and a merge or split
-- records the new profile of each moved message in event_profiles (010) instead of rewriting events. Readers keep
-- reading `events`; `SELECT message_id, profile_id FROM events` returns current profiles.
-- Cost: every read of events joins event_profiles (hashed on its side, which holds only moved messages); filters on
--   event_rows' own columns (tenant, time, message_id) are pushed below the join, a filter on profile_id is not.
-- Engine: a view, no storage of its own.
-- Partition: none of its own; event_rows' monthly partitions are pruned through it.
-- Order key: event_rows' (tenant, profile_id at landing, timestamp, message_id).
RENAME TABLE events TO event_rows;
CREATE VIEW IF NOT EXISTS events AS
SELECT
    e.tenant AS tenant, e.message_id AS message_id, e.type AS type, e.event AS event, e.anonymous_id AS anonymous_id,
    e.user_id AS user_id, e.group_id AS group_id, e.previous_id AS previous_id,
    if(moved.profile_id != '', moved.profile_id, e.profile_id) AS profile_id,
    e.channel AS channel, e.source AS source, e.timestamp AS timestamp, e.original_timestamp AS original_timestamp,
    e.sent_at AS sent_at, e.received_at AS received_at, e.properties AS properties, e.traits AS traits,
    e.context AS context, e.extra AS extra, e.identifiers AS identifiers, e.ingested_at AS ingested_at
FROM event_rows AS e
LEFT JOIN
(
    SELECT tenant, message_id, argMax(profile_id, version) AS profile_id FROM event_profiles GROUP BY tenant, message_id
) AS moved ON moved.tenant = e.tenant AND moved.message_id = e.message_id
