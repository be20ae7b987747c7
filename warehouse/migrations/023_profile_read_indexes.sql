-- Skip indexes for the reads of one profile whose column is not the table's order key (GET /v1/profiles/{id},
-- warehouse/profiles.ts; consent/show.ts through warehouse/consent.ts):
--   event_profiles by profile_id: the messages moved to a profile (its order key is (tenant, message_id)).
--   profile_merges by to_profile: the merges into a profile (its order key starts (tenant, from_profile)).
--   consent_ledger by profile_id: the rows recorded under a profile (its order key is (tenant, message_id, ...)).
-- Without them each such read scans the tenant's whole table; all three grow with merges and consent changes.
-- bloom_filter(0.001): about 15 bits per row; one profile's lookup reads only the granules that may hold it.
-- A projection ordered by profile would serve these too, but event_profiles and consent_ledger are
-- ReplacingMergeTrees, whose merges a projection must be told how to follow, at the cost of a second sorted copy.
-- Engine, partition and order key: unchanged (010_identity.sql, 020_consent_ledger.sql).
-- MATERIALIZE builds them for rows written before this migration, in the background (start-up does not wait for it;
-- reads are correct before they are built, only slower).
ALTER TABLE event_profiles ADD INDEX IF NOT EXISTS profile_id_bloom profile_id TYPE bloom_filter(0.001) GRANULARITY 1;
ALTER TABLE event_profiles MATERIALIZE INDEX profile_id_bloom;
ALTER TABLE profile_merges ADD INDEX IF NOT EXISTS to_profile_bloom to_profile TYPE bloom_filter(0.001) GRANULARITY 1;
ALTER TABLE profile_merges MATERIALIZE INDEX to_profile_bloom;
ALTER TABLE consent_ledger ADD INDEX IF NOT EXISTS profile_id_bloom profile_id TYPE bloom_filter(0.001) GRANULARITY 1;
ALTER TABLE consent_ledger MATERIALIZE INDEX profile_id_bloom
