-- schema_migrations: which numbered migration files have been applied, and when.
-- Engine: a plain MergeTree; a handful of rows, read whole at start-up, ordered by version for readability.
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY version
