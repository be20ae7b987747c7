-- profile_documents (083) again, in granules of 32 rows instead of 256: a read of one document decompressed its whole
--   granule, 256 documents of about 10 kB (2.5 MB): measured in one process, point reads alternating between copies of
--   50,000 such documents, p50 10.2-10.6 ms with 256 rows a granule against 7.8-8.0 ms with 32 or 16 (load 11-16 on 2
--   cores; the rest is the statement's own cost). The table is a cache that `cdp serve` builds whole at start (nothing
--   is trusted then: ingest/profile-documents.ts), so it is made again empty rather than copied.
-- Engine: ReplacingMergeTree(built), as 083: the latest build of a profile's document wins.
-- Partition: none, as 083: one row per profile, read by key.
-- Order key: (tenant, profile_id), as 083; 1,600 marks for 50,000 profiles.
DROP TABLE IF EXISTS profile_documents;

CREATE TABLE IF NOT EXISTS profile_documents
(
    tenant String,
    profile_id String,
    built UInt64,
    document String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree(built)
ORDER BY (tenant, profile_id)
SETTINGS index_granularity = 32, old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
