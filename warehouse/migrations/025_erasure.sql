-- Erasure (consent/erasure.ts) must make a deleted row's bytes leave the disk. A mutation writes new parts without
-- the rows; the parts it replaced, and the parts a merge replaced, stay on disk as "outdated" for old_parts_lifetime
-- (8 minutes by default, a guard against losing a merge's result on a power cut before it was fsynced). Every table
-- that holds personal data keeps them for 1 second instead, cleaned every second, and fsyncs each merged part
-- (min_compressed_bytes_to_fsync_after_merge = 1), which gives the same guard without keeping the old bytes.
-- Engine, partition and order keys: unchanged.
ALTER TABLE event_rows MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE texts MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE sentiment MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE alerts MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE dead_letters MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE dead_letter_outcomes MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE identity_observations MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE identity_links MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE event_profiles MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE profile_merges MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE identity_nodes MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE identity_operations MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE identity_snapshots MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE consent_ledger MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;

-- suppressions: identifiers of erased people, as keyed hashes (consent/keys.ts identifierKey: HMAC-SHA256 with the
--   deployment's secret, never the identifier), so re-ingestion of their messages is dropped ("suppressed") until
--   they return with fresh consent, or an operator lifts it. suppressed = 1 blocks, a later row with 0 lifts.
--   reason: why the row was written ('erasure', 'consent', 'operator'); request_id: the DSR or the proof message.
-- Engine: ReplacingMergeTree(at): the latest row per (tenant, key) is the state; FINAL or argMax reads it.
-- Partition: none; a few rows per erased person, read whole per tenant into memory.
-- Order key: (tenant, key): lookups by keyed hash.
CREATE TABLE IF NOT EXISTS suppressions
(
    tenant LowCardinality(String),
    key String,
    suppressed UInt8,
    reason LowCardinality(String),
    request_id String,
    at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(at)
ORDER BY (tenant, key)
