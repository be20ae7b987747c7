-- texts: what customers wrote (inbound mail, chat, tweets, call notes, reviews), one row per message.
-- Free text is personal data: this is its one home, keyed by (tenant, message_id), so erasure reaches it in one
-- step; other tables (sentiment, aspects) refer to the message id and never copy the text.
-- Engine: ReplacingMergeTree: a replayed message replaces its own row instead of adding one.
-- Partition: by month of the message time, like events. Order key: (tenant, message_id) for lookups by message.
CREATE TABLE IF NOT EXISTS texts
(
    tenant LowCardinality(String),
    message_id String,
    profile_id String,
    channel LowCardinality(String),
    timestamp DateTime64(3, 'UTC'),
    text String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant, message_id)
