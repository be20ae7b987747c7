-- dead_letters: every refused input, kept whole with why it was refused, so nothing sent to us is silently lost
-- and a fixed bug can re-drive it.
-- Engine: ReplacingMergeTree(received_at) keyed on a hash of the payload and rule, so a sender's retry of the same
--   bad message does not pile up copies (the latest time wins).
-- Partition: by month received: dead letters are looked at by recency and expire by age.
-- Order key: (tenant, source, rule, dead_letter_id): a compliance officer or engineer asks "what did source X
--   reject, and why" per tenant.
CREATE TABLE IF NOT EXISTS dead_letters
(
    tenant LowCardinality(String),
    source LowCardinality(String),
    dead_letter_id String,
    received_at DateTime64(3, 'UTC'),
    message_id String,
    rule LowCardinality(String),
    field String,
    reason String,
    payload String
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(received_at)
ORDER BY (tenant, source, rule, dead_letter_id)
