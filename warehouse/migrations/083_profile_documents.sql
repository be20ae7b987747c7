-- One document per profile: the parts of a profile read's answer (GET /v1/profiles/{identifier}) that do not depend on
-- who asks, kept at write time for the profiles each landed batch reaches (warehouse/profile-documents.ts), so an
-- uncached read is one point read instead of three statements of ~17 sub-reads (README "Reading fast"). A read uses a
-- document only while the process knows it current; otherwise it reads the profile as before.
-- Engine: ReplacingMergeTree(built): a profile's document is written again whenever it changes; the latest build wins
--   (a read takes the newest row of its key, so parts not merged yet never show an older one).
-- Partition: none: one small row per profile, read by key and replaced whole.
-- Order key: (tenant, profile_id): a read takes one key. Granules of 256 rows: a point read decompresses a few hundred
--   documents, not 8,192 (documents are a few kB).
CREATE TABLE IF NOT EXISTS profile_documents
(
    tenant String,
    profile_id String,
    built UInt64,
    document String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree(built)
ORDER BY (tenant, profile_id)
SETTINGS index_granularity = 256
