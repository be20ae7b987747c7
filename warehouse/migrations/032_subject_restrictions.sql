-- subject_restrictions: GDPR Art. 18 restriction of processing, attached to the subject's own identifiers (keyed
--   hashes, consent/keys.ts, with the identifier's kind) rather than to a profile id: a row when a restriction request
--   restricts them (restricted = 1) and when it is lifted (0). Which profiles are restricted is worked out when asked,
--   through the identity mapping of that moment (consent/restriction.ts): a profile holding any restricted
--   identifier is restricted, so a later merge carries the restriction and a split leaves it with whichever part
--   holds the identifier. Rows written by profile id before this table (profile_restrictions, 031) are still read.
-- Engine: MergeTree, append-only history: lifting is a later row, never a deletion, so the state at any past time
--   can be read (argMax(restricted, at) over rows up to that time).
-- Partition: none; rows are few (one per identifier per request).
-- Order key: (tenant, subject_key, at): read per tenant, per identifier in time order.
CREATE TABLE IF NOT EXISTS subject_restrictions
(
    tenant LowCardinality(String),
    subject_key String,
    kind LowCardinality(String),
    restricted UInt8,
    request_id String,
    at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (tenant, subject_key, at)
