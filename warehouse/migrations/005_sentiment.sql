-- sentiment: how each text a customer sent scored (score in [-1, 1], label, the evidence that moved it, and the
-- sentiment per aspect: product, delivery, returns, price, support, app, or a tenant's own). No text here: it is
-- personal data and lives in `texts` only; join on (tenant, message_id).
-- Engine: ReplacingMergeTree(scored_at): one row per message, the latest scoring wins, so a rescore (new model
--   version, or the same one again) replaces rows instead of adding them. Read with FINAL for exact figures.
-- Partition: by month of the message time, like events: social listening reads days and weeks.
-- Order key: (tenant, message_id), the replacing key; per-day and per-profile rollups scan a tenant's months.
CREATE TABLE IF NOT EXISTS sentiment
(
    tenant LowCardinality(String),
    message_id String,
    profile_id String,
    channel LowCardinality(String),
    source LowCardinality(String),
    timestamp DateTime64(3, 'UTC'),
    scored_at DateTime64(3, 'UTC'),
    status LowCardinality(String),
    reason String,
    language LowCardinality(String),
    score Float32,
    label LowCardinality(String),
    model_version LowCardinality(String),
    evidence String,
    aspects Array(Tuple(aspect LowCardinality(String), score Float32, label LowCardinality(String)))
)
ENGINE = ReplacingMergeTree(scored_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant, message_id)
