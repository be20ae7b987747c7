-- Retention (warehouse/retention.ts): a TTL per table holding personal data, with the defaults of DEFAULT_RETENTION
-- (CDP_RETENTION changes them at start-up, with the same statements). A TTL counts from when a row was received or
-- written here (texts and dead_letters gain landed_at for it, MATERIALIZED so SELECT * and inserts are unchanged),
-- not from the event's own time, so a history import is kept for the whole period instead of expiring on arrival.
-- Rows already stored are not rewritten now (materialize_ttl_after_modify = 0): the engine's TTL merges remove what
-- expired. Monthly-partitioned tables drop
-- whole parts once all their rows expired (ttl_only_drop_parts), which costs no rewrite; the identity tables (no
-- partition) lose expired rows in merges. Consent history (consent_ledger) has no TTL: it is the proof of consent;
-- alerts hold counts only.
-- Engine: unchanged (each table's own migration says why).
-- Partition: unchanged; the monthly partitions are what lets ttl_only_drop_parts drop whole parts.
-- Order key: unchanged.
ALTER TABLE texts ADD COLUMN IF NOT EXISTS landed_at DateTime64(3, 'UTC') MATERIALIZED now64(3);
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS landed_at DateTime64(3, 'UTC') MATERIALIZED now64(3);
ALTER TABLE event_rows MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE event_rows MODIFY TTL toDateTime(ingested_at) + toIntervalMonth(25) SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE texts MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE texts MODIFY TTL toDateTime(landed_at) + toIntervalMonth(25) SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE sentiment MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE sentiment MODIFY TTL toDateTime(scored_at) + toIntervalMonth(25) SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE identity_observations MODIFY TTL toDateTime(observed_at) + toIntervalMonth(25) SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE identity_links MODIFY TTL toDateTime(resolved_at) + toIntervalMonth(25) SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE dead_letters MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE dead_letters MODIFY TTL toDateTime(landed_at) + toIntervalMonth(6) SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE dead_letter_outcomes MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE dead_letter_outcomes MODIFY TTL toDateTime(retried_at) + toIntervalMonth(6) SETTINGS materialize_ttl_after_modify = 0
