-- operations: the long operations servers run in their background (ingest/jobs.ts: relationship computes, replays of
--   the archive, rescores, retention, identity rebuilds), one row per state an operation reached: running when it
--   started, then done, failed, or interrupted (its server stopped while it ran). Kept so that GET /v1/operations
--   still answers after a restart and an operator sees who ran what over the data, and when.
--   tenant: the tenant it was for, '' for every tenant. params (JSON): what it was asked with. outcome (JSON): what
--   it did (done) or why it failed (failed: status, rule, error). asked_by: the id of the token that started it.
--   server: the run of the server that ran it (a random id per start), so a server that starts again can tell the
--   operations it left running from those another server runs.
-- Engine: ReplacingMergeTree(version): an operation's states are written as they happen and the latest (highest
--   version) is its status; FINAL reads it. Operations are a few a day, so FINAL costs nothing.
-- Partition: none. Order key: (tenant, id): one row per operation after merges.
CREATE TABLE IF NOT EXISTS operations
(
    tenant LowCardinality(String),
    id String,
    kind LowCardinality(String),
    params String,
    status LowCardinality(String),
    started_at DateTime64(3, 'UTC'),
    finished_at Nullable(DateTime64(3, 'UTC')),
    asked_by String,
    server String,
    outcome String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, id)
