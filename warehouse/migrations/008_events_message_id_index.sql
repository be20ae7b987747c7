-- events: a data-skipping index on message_id, so the sink can ask "which of these ids are already stored?" per
-- batch by reading only the granules that may hold them, instead of keeping every landed id in memory (which grew
-- with the table: about 0.6 GB per million rows, read at every start).
-- bloom_filter(0.001): about 15 bits per row; a lookup of a hundred ids skips about nine granules in ten.
-- Engine: unchanged (002_events.sql).
-- Partition: unchanged (month of the event time): a message id says nothing about its month, hence this index.
-- Order key: unchanged; message_id is its last column, so the key alone cannot find an id without a profile.
-- MATERIALIZE builds it for rows landed before this migration, in the background (start-up does not wait for it;
-- lookups are correct before it is built, only slower).
ALTER TABLE events ADD INDEX IF NOT EXISTS message_id_bloom message_id TYPE bloom_filter(0.001) GRANULARITY 1;
ALTER TABLE events MATERIALIZE INDEX message_id_bloom
