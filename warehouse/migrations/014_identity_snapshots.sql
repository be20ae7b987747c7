-- identity_snapshots: the online identity graph's state (every tenant's), written periodically and at shutdown, so a
--   restart loads it plus the observations stored since, instead of every observation (identity/snapshot.ts). Only an
--   optimisation: a missing, partial, corrupt or outdated snapshot (other rules or operators' decisions) means the full
--   load from identity_observations. It holds identifiers (personal data): erasure truncates the table.
-- Engine: MergeTree; a snapshot is the rows of one taken_at (its bytes cut into chunks, base64), inserted at once; an
--   older snapshot is deleted once a newer one is stored.
-- Partition: none (one or two snapshots). Order key: (taken_at, seq), so the newest snapshot's chunks read in order.
CREATE TABLE IF NOT EXISTS identity_snapshots
(
    taken_at DateTime64(3, 'UTC'),
    covers_until DateTime64(3, 'UTC'),
    fingerprint String,
    checksum String,
    chunks UInt32,
    seq UInt32,
    chunk String CODEC(ZSTD(1))
)
ENGINE = MergeTree
ORDER BY (taken_at, seq)
