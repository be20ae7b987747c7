-- identity_claims: the links identity refused as a claim (identity/graph.ts claimedReason: a value another user id
--   holds, only stated by this message's user id), copied from identity_links as they are written (the view below).
--   Claims are rare; a profile read, a document build, an export run and an audience evaluation look for them on
--   every call (warehouse/profiles.ts claimedLinks), and identity_links' key (tenant, a, b, message_id) cannot find a
--   profile's messages' links without reading every link of its identifiers. Here a profile's few claims are one key
--   range per message; whether each is still refused is then read from identity_links by the link's whole key (a claim
--   later accepted is one no more).
-- Engine: ReplacingMergeTree(resolved_at): a link refused again replaces its row.
-- Partition: none by time, as identity_links: a claim is read whenever its message is, across all time.
-- Order key: (tenant, message_id, a, b): read by a profile's messages.
-- TTL and prompt cleanup as identity_links (026, 025): erased with it (consent/registry.ts).
CREATE TABLE IF NOT EXISTS identity_claims
(
    tenant LowCardinality(String),
    message_id String,
    a String,
    b String,
    reason String,
    resolved_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(resolved_at)
ORDER BY (tenant, message_id, a, b)
TTL toDateTime(resolved_at) + toIntervalMonth(25)
SETTINGS old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;

-- The prefix is warehouse/profiles.ts CLAIMED_REASON_START; a test checks the two agree.
CREATE MATERIALIZED VIEW IF NOT EXISTS identity_claims_mv TO identity_claims AS
SELECT tenant, message_id, a, b, reason, resolved_at FROM identity_links WHERE startsWith(reason, 'stated by a second ');

-- Claims refused before this table existed (only when it is still empty, so running it again adds nothing).
INSERT INTO identity_claims (tenant, message_id, a, b, reason, resolved_at)
SELECT tenant, message_id, a, b, reason, resolved_at FROM identity_links
WHERE startsWith(reason, 'stated by a second ') AND (SELECT count() FROM identity_claims) = 0;
