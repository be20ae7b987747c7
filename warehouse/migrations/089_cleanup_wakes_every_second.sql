-- The engine's cleanup task wakes at least every second on every MergeTree table (max_cleanup_delay_period = 1, part of
-- PROMPT_CLEANUP_SETTINGS since this migration). It backs off while a table is idle, up to 300 s by default, so an
-- erasure on an idle table found the outdated parts its mutations left still on disk and detached and attached the
-- table to have them removed (warehouse/erasure.ts awaitOldPartsGone): every other statement on that table, any
-- tenant's, met it missing meanwhile. Set on a table that already backed off, it takes effect at the task's next wake
-- or the next start. test/warehouse/prompt-cleanup.test.ts checks every MergeTree table has it.
ALTER TABLE alerts MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE api_token_uses MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE api_tokens MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE audience_changes MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE audience_members MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE audience_versions MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE bus_data_keys MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE computed_trait_definitions MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE computed_trait_states MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE consent_ledger MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE dead_letter_outcomes MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE dead_letters MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE dsr_requests MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE event_profiles MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE event_rows MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE export_cursors MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE export_dead_letters MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE export_deliveries MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE export_erasures MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE export_state MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE identity_claims MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE identity_links MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE identity_nodes MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE identity_observations MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE identity_operations MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE identity_sightings MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE identity_snapshots MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE operations MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE profile_documents MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE profile_merges MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE profile_restrictions MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE relation_activity_daily MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE relation_runs MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE relation_scores MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE relation_voice_daily MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE schema_migrations MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE sentiment MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE subject_restrictions MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE suppressions MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE texts MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE trait_precedence MODIFY SETTING max_cleanup_delay_period = 1;
