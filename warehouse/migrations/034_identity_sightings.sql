-- identity_sightings: each stored observation again under each identifier it states, so the online identity graph,
--   which keeps identifiers and never messages in memory (identity/resolver.ts), reads a part's stored messages by
--   its identifiers when it resolves that part again, and finds the stored messages of a part that moved whole
--   (identity/online.ts). Written with identity_observations (warehouse/identity.ts storeIdentity), never alone.
-- Engine: ReplacingMergeTree(observed_at): a replayed message replaces its own row under each identifier; readers
--   take each message's latest version (argMax by observed_at).
-- Partition: none by time: rows are read by identifier across all time. TTL as identity_observations (retention).
-- Order key: (tenant, kind, value, message_id): a read by identifier is one key range, however many messages the
--   warehouse holds (identity_observations' key is the message id, so a person's messages lie all over it).
CREATE TABLE IF NOT EXISTS identity_sightings
(
    tenant LowCardinality(String),
    kind LowCardinality(String),
    value String,
    message_id String,
    timestamp DateTime64(3, 'UTC'),
    sightings Array(Tuple(kind LowCardinality(String), value String, trust LowCardinality(String))),
    observed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(observed_at)
ORDER BY (tenant, kind, value, message_id)
TTL toDateTime(observed_at) + toIntervalMonth(25)
-- Erased rows leave the disk at once, as in the other tables holding identifiers (025).
SETTINGS old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;

-- Observations stored before this table existed (only when it is still empty, so running it again adds nothing).
INSERT INTO identity_sightings (tenant, kind, value, message_id, timestamp, sightings, observed_at)
SELECT tenant, s.kind, s.value, message_id, timestamp, arrayMap(x -> (x.kind, x.value, x.trust), sightings), observed_at
FROM identity_observations ARRAY JOIN sightings AS s
WHERE (SELECT count() FROM identity_sightings) = 0;
