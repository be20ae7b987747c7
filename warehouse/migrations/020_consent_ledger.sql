-- consent_ledger: every change of a person's consent per purpose, with its lawful basis, source, the time it takes
--   effect (the carrying message's event time) and its proof: the message id that carried it and what was read
--   (the categories, the TCF string, the header, the SendGrid event kind; never an identifier). Rows are keyed by
--   message, not by profile: the profile a row belongs to now is found as `events` finds a message's (through
--   event_profiles), so consent follows merges and splits. profile_id is the profile when it was recorded. device
--   is a hash of the browser or app (anonymous id) whose stored preferences the message carried ('' for signals that
--   are acts of their own): a device re-stating its own earlier choice is no change, whatever another device chose since.
-- Engine: ReplacingMergeTree(recorded_at): a replayed message replaces its own rows, never adds a second change.
-- Partition: none; a tenant's ledger holds changes only (a few rows per person) and is read whole per question.
-- Order key: (tenant, message_id, purpose, source): joined to event_profiles by message; unique per signal.
CREATE TABLE IF NOT EXISTS consent_ledger
(
    tenant LowCardinality(String),
    message_id String,
    profile_id String,
    purpose LowCardinality(String),
    state LowCardinality(String),
    basis LowCardinality(String),
    source LowCardinality(String),
    proof String,
    device String,
    timestamp DateTime64(3, 'UTC'),
    recorded_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (tenant, message_id, purpose, source);

-- consent_current: the ledger with each row's *current* profile (after merges and splits), as `events` shows it.
-- Engine: a view, no storage of its own. Partition: none. Order key: the ledger's.
CREATE VIEW IF NOT EXISTS consent_current AS
SELECT
    l.tenant AS tenant, l.message_id AS message_id,
    if(moved.profile_id != '', moved.profile_id, l.profile_id) AS profile_id,
    l.profile_id AS recorded_profile_id, l.purpose AS purpose, l.state AS state, l.basis AS basis, l.source AS source,
    l.proof AS proof, l.device AS device, l.timestamp AS timestamp, l.recorded_at AS recorded_at
FROM (SELECT * FROM consent_ledger FINAL) AS l
LEFT JOIN
(
    SELECT tenant, message_id, argMax(profile_id, version) AS profile_id FROM event_profiles GROUP BY tenant, message_id
) AS moved ON moved.tenant = l.tenant AND moved.message_id = l.message_id
