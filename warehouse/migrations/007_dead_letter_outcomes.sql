-- dead_letter_outcomes: what each re-drive of a dead letter (`cdp dlq retry`) came to, one row per attempt, so a
-- dead letter that landed is closed (`cdp dlq list` shows open ones) and one that still fails keeps its history.
-- outcome: 'landed' (now in events) or 'still_rejected'; rule and reason say why it still fails ('' once landed);
-- message_id is the landed message's id (the first, when the payload held several).
-- Engine: a plain MergeTree: attempts are facts that are only ever added, and a dead letter's state is read as its
--   latest attempt (argMax by retried_at) or whether any attempt landed.
-- Partition: by month of the attempt, like dead_letters by month received: few rows, read by recency, expire by age.
-- Order key: (tenant, dead_letter_id, retried_at): joined to dead_letters per tenant and id, attempts in time order.
CREATE TABLE IF NOT EXISTS dead_letter_outcomes
(
    tenant LowCardinality(String),
    dead_letter_id String,
    retried_at DateTime64(3, 'UTC'),
    outcome LowCardinality(String),
    rule LowCardinality(String),
    reason String,
    message_id String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(retried_at)
ORDER BY (tenant, dead_letter_id, retried_at)
