-- events: one row per accepted message from any channel (web, email, chat, call, social).
-- Engine: ReplacingMergeTree(ingested_at). The pipeline lands each (tenant, message_id) once by checking what is
--   already stored before it inserts; merges that meet the same sorting key (a replayed copy of a row) also collapse
--   it, so an at-least-once bus can never leave two copies in the long run.
-- Partition: by month of the event time. Marketers ask about time ranges ("last 30 days"), so whole months are
--   pruned; monthly parts stay few and large even for small tenants (daily partitions would fragment).
-- Order key: (tenant, profile_id, timestamp, message_id). Every query is per tenant; the next most common is one
--   profile's history or all events of a set of profiles (segments, exports), read in time order; message_id last
--   makes the key unique per message.
-- Settings: inserts (one per group commit, thousands of rows) stay compact parts (one file for all columns)
--   until merges make them big; writing 20 column files per small insert costs more than the insert itself.
-- identifiers: e-mail addresses, phone numbers, social handles the message states about its sender, as sent.
-- Free text is not here: it is personal data kept once, in `texts`.
-- properties / traits / context / extra hold the message's JSON objects as JSON text: read them with
--   JSONExtractString(properties, 'plan') and friends.
CREATE TABLE IF NOT EXISTS events
(
    tenant LowCardinality(String),
    message_id String,
    type LowCardinality(String),
    event String,
    anonymous_id String,
    user_id String,
    group_id String,
    previous_id String,
    profile_id String,
    channel LowCardinality(String),
    source LowCardinality(String),
    timestamp DateTime64(3, 'UTC'),
    original_timestamp Nullable(DateTime64(3, 'UTC')),
    sent_at Nullable(DateTime64(3, 'UTC')),
    received_at DateTime64(3, 'UTC'),
    properties String,
    traits String,
    context String,
    extra String,
    identifiers Array(Tuple(kind LowCardinality(String), value String)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant, profile_id, timestamp, message_id)
SETTINGS min_bytes_for_wide_part = 134217728, min_rows_for_wide_part = 1000000
