-- bus_data_keys: the data keys the Kafka bus encrypts record values with (ingest/bus-crypto.ts), one per person key
--   (tenant + the key the bus partitions a person's messages by), so an erasure shreds what an append-only topic
--   still holds by deleting the key (consent/erasure.ts). key_id: a keyed hash of tenant and person key (never the
--   identifier); dk: a random id of this key, named in each record's header beside key_id (two processes meeting a
--   new person at once each make a key; both are kept and both are shredded together); wrapped: the key encrypted
--   with AES-256-GCM under a key-encryption key derived from the data dir's secret (consent/keys.ts), hex, so this
--   table alone opens nothing. An erasure writes a tombstone (dk and wrapped empty) for each key id it shreds and
--   deletes its keys: a consumer tells a shredded record (tombstone: skipped, counted) from one whose key this
--   warehouse never held (another warehouse, or not replicated yet: retried, never skipped).
-- Engine: ReplacingMergeTree(created_at): a re-insert of the same (key_id, dk) folds away; keys are only ever added,
--   or deleted by an erasure (a mutation; migration 025's settings make the old parts leave the disk at once).
-- Partition: none; one small row per person key, read by key id.
-- Order key: (key_id, dk): consumers read a batch's keys by key_id, erasure deletes by key_id.
CREATE TABLE IF NOT EXISTS bus_data_keys
(
    key_id String,
    dk String,
    tenant LowCardinality(String),
    wrapped String,
    created_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (key_id, dk)
SETTINGS old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
