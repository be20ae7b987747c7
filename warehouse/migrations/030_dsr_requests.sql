-- dsr_requests: data-subject requests (GDPR access, portability, rectification, restriction, objection, erasure),
--   one row per state a request reached: received, running, completed or failed. Holds no personal data: the
--   subject is named by keyed hashes of identifiers (consent/keys.ts), never by the identifiers, so a request row
--   survives the erasure it asked for. counts (JSON): what was done where ({"events": {"erased": 12}, ...});
--   details (JSON): what the request produced (the access bundle's object key, the traits rectified by name, the
--   purposes objected to); receipt (JSON): the signed receipt of a completed request (consent/audit.ts).
-- Engine: ReplacingMergeTree(version): a request's states are written as they happen and the latest (highest
--   version) is its status; FINAL or argMax reads it. Requests are few (a handful a day), so FINAL costs nothing.
-- Partition: none; the table stays small and is read whole for `cdp dsr list`.
-- Order key: (tenant, request_id): one row per request after merges; lookups are by id.
CREATE TABLE IF NOT EXISTS dsr_requests
(
    tenant LowCardinality(String),
    request_id String,
    type LowCardinality(String),
    status LowCardinality(String),
    subject_kind LowCardinality(String),
    subject_key String,
    subject_keys Array(String),
    received_at DateTime64(3, 'UTC'),
    due_at DateTime64(3, 'UTC'),
    started_at Nullable(DateTime64(3, 'UTC')),
    finished_at Nullable(DateTime64(3, 'UTC')),
    counts String,
    details String,
    error String,
    receipt String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, request_id)
