-- Retention for the relational tables (warehouse/retention.ts, store "relations", CDP_RETENTION relations=MONTHS,
-- default 25 months like the events they are derived from). The daily tables gain landed_at, when a row was written
-- here (MATERIALIZED, so the views' inserts and SELECT * are unchanged; max when merges fold rows), because a TTL on
-- the event's own day would expire an import of old history on arrival, as retention.ts explains for every store.
-- relation_scores and relation_runs count from computed_at: a run is kept for the period after it was computed.
-- Rows already stored are not rewritten (materialize_ttl_after_modify = 0): the engine's TTL merges remove what
-- expired; the monthly daily tables drop whole parts (ttl_only_drop_parts).
-- Engine, partition, order key: unchanged (040-042 say why).
ALTER TABLE relation_activity_daily ADD COLUMN IF NOT EXISTS landed_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) MATERIALIZED now64(3);
ALTER TABLE relation_voice_daily ADD COLUMN IF NOT EXISTS landed_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) MATERIALIZED now64(3);
ALTER TABLE relation_activity_daily MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE relation_activity_daily MODIFY TTL toDateTime(landed_at) + toIntervalMonth(25) SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE relation_voice_daily MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE relation_voice_daily MODIFY TTL toDateTime(landed_at) + toIntervalMonth(25) SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE relation_scores MODIFY TTL toDateTime(computed_at) + toIntervalMonth(25) SETTINGS materialize_ttl_after_modify = 0;
ALTER TABLE relation_runs MODIFY TTL toDateTime(computed_at) + toIntervalMonth(25) SETTINGS materialize_ttl_after_modify = 0
