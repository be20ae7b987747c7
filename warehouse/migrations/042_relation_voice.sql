-- relation_voice_daily: what each profile wrote or said per day, as scored (message, time, channel, source, score,
--   label), kept current as sentiment lands, for relational intelligence (sentiment level and trend, open complaints).
--   No text: that stays in `texts`. profile_id is the profile at landing (as in sentiment); readers map it to the
--   current profile (warehouse/relations.ts). A rescore adds the message again with a later scored_at; readers keep
--   the latest scoring of each message.
-- Engine: AggregatingMergeTree, groupUniqArrayArray: a materialized view adds one row per (profile, day) per insert
--   block, merges concatenate them (a person writes a few texts a day, so the arrays stay short).
-- Partition: by month of the day, as sentiment. Order key: (tenant, profile_id, day), read per tenant in one pass.
CREATE TABLE IF NOT EXISTS relation_voice_daily
(
    tenant LowCardinality(String),
    profile_id String,
    day Date,
    said SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(
        message_id String, at DateTime64(3, 'UTC'), scored_at DateTime64(3, 'UTC'), channel String, source String,
        status String, score Float32, label String)))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, profile_id, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS relation_voice_mv TO relation_voice_daily AS
SELECT
    tenant,
    profile_id,
    toDate(timestamp) AS day,
    groupUniqArray((message_id, timestamp, scored_at, toString(channel), toString(source), toString(status), score, toString(label))) AS said
FROM sentiment
GROUP BY tenant, profile_id, day;

INSERT INTO relation_voice_daily
SELECT
    tenant,
    profile_id,
    toDate(timestamp) AS day,
    groupUniqArray((message_id, timestamp, scored_at, toString(channel), toString(source), toString(status), score, toString(label))) AS said
FROM sentiment
GROUP BY tenant, profile_id, day
