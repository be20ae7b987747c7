-- profile_restrictions: GDPR Art. 18 restriction of processing, per profile: a row when a restriction request
--   marks a profile restricted (restricted = 1) and when it is lifted (restricted = 0). While the latest row at a
--   time says 1, the consent ledger (consent/ledger.ts) answers "no" for every purpose: the data is kept, not used.
--   profile_id is the profile (or each of the profiles) the subject's identifier named when the request ran.
-- Engine: MergeTree, append-only history: a restriction is lifted by a later row, never by deleting one, so the state
--   at any past time can be read (argMax(restricted, at) over rows up to that time).
-- Partition: none; rows are few (one per request). Order key: (tenant, profile_id, at): read per profile in time order.
CREATE TABLE IF NOT EXISTS profile_restrictions
(
    tenant LowCardinality(String),
    profile_id String,
    restricted UInt8,
    request_id String,
    at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (tenant, profile_id, at)
