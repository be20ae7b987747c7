-- Exports to downstream destinations (ingest/destinations/, warehouse/exports.ts owns every table here).

-- export_state: what each destination holds of each profile, as far as cdp knows: the fingerprint of the record last
--   delivered (an unchanged profile is not sent again: a backfill or a retried run duplicates nothing), whether it is
--   there now (present = 0 after a withdrawal removed it), and the destination's own id of the record (HubSpot's
--   contact id, Salesforce's record Id, the webhook's record id) so an erasure can delete it after the profile is gone.
-- Engine: ReplacingMergeTree(version): each delivery writes the profile's new row; reads take argMax by version, and
--   merges keep one row per (tenant, destination, profile_id).
-- Partition: none (one row per profile and destination, small). Order key: (tenant, destination, profile_id): every
--   read is one destination's rows, looked up by profile.
CREATE TABLE IF NOT EXISTS export_state
(
    tenant LowCardinality(String),
    destination LowCardinality(String),
    profile_id String,
    fingerprint String,
    present UInt8,
    remote_id String,
    version UInt64,
    synced_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, destination, profile_id);

-- export_cursors: per destination, the high-water mark of the last good sync: profiles whose messages were ingested
--   after it (less an overlap, see warehouse/exports.ts) are the candidates of the next incremental run.
-- Engine: ReplacingMergeTree(version): a run replaces its destination's row. Partition: none (a row per destination).
-- Order key: (tenant, destination).
CREATE TABLE IF NOT EXISTS export_cursors
(
    tenant LowCardinality(String),
    destination LowCardinality(String),
    cursor DateTime64(3, 'UTC'),
    audience_cursor String,
    version UInt64,
    synced_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, destination);

-- export_deliveries: the delivery log, one row per request sent (or refused before sending): counts, status, the
--   destination's answer in words (never a record's values). `cdp export history` reads it.
-- Engine: MergeTree, append-only. Partition: by month of `at`, so old months can be dropped whole.
-- Order key: (tenant, destination, at): history is read per destination, newest first.
CREATE TABLE IF NOT EXISTS export_deliveries
(
    tenant LowCardinality(String),
    destination LowCardinality(String),
    run_id String,
    batch_id String,
    operation LowCardinality(String),
    attempt UInt16,
    outcome LowCardinality(String),
    http_status UInt16,
    records UInt32,
    failed UInt32,
    detail String,
    duration_ms UInt32,
    at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (tenant, destination, at);

-- export_dead_letters: profiles a destination would not take after the bounded retries, one row per profile and
--   batch (by profile id, never the values sent: `cdp export replay` reads each profile again, with its consent now).
--   replayed = 1 once a replay delivered it.
-- Engine: ReplacingMergeTree(version): a replay writes the row again with replayed = 1.
-- Partition: none (few rows). Order key: (tenant, destination, batch_id, profile_id).
CREATE TABLE IF NOT EXISTS export_dead_letters
(
    tenant LowCardinality(String),
    destination LowCardinality(String),
    batch_id String,
    profile_id String,
    operation LowCardinality(String),
    reason String,
    attempts UInt16,
    replayed UInt8,
    version UInt64,
    at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, destination, batch_id, profile_id);

-- export_erasures: deletions an erasure queued for destinations, by the destination's record id only (the profile and
--   its identifiers are erased meanwhile): HubSpot GDPR delete, Salesforce delete or anonymise, the webhook's erase
--   event. done = 1 once the destination confirmed it.
-- Engine: ReplacingMergeTree(version): an attempt writes the row again. Partition: none (few rows).
-- Order key: (tenant, destination, remote_id).
CREATE TABLE IF NOT EXISTS export_erasures
(
    tenant LowCardinality(String),
    destination LowCardinality(String),
    remote_id String,
    request_id String,
    done UInt8,
    attempts UInt16,
    last_error String,
    version UInt64,
    queued_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, destination, remote_id);
