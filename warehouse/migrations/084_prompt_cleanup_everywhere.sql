-- Migration 025's prompt cleanup of outdated parts for every table made after it without them (and schema_migrations):
-- an erasure (consent/erasure.ts) waits until the parts its mutations and the merges before it replaced leave the disk,
-- and a table keeping them old_parts_lifetime (480 s by default) keeps the erased rows' bytes that long (warehouse/
-- erasure.ts awaitOldPartsGone gave such a table the settings when it waited: an erasure right after an export run
-- failed after 60 s on export_deliveries). Merged parts are fsynced instead (min_compressed_bytes_to_fsync_after_merge).
-- test/warehouse/prompt-cleanup.test.ts checks every MergeTree table has them, so a table added later needs them in its
-- CREATE (SETTINGS, as 033 and 034 do). Engine, partition and order keys: unchanged.
ALTER TABLE api_token_uses MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE api_tokens MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE audience_changes MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE audience_members MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE audience_versions MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE computed_trait_definitions MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE computed_trait_states MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE dsr_requests MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE export_cursors MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE export_dead_letters MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE export_deliveries MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE export_erasures MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE export_state MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE operations MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE profile_documents MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE profile_restrictions MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE relation_activity_daily MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE relation_runs MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE relation_scores MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE relation_voice_daily MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE schema_migrations MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE subject_restrictions MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE suppressions MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
ALTER TABLE trait_precedence MODIFY SETTING old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1;
