-- alerts: spikes that social listening raised (a day whose negative mentions, or all mentions, exceeded the
-- trailing baseline), one row per (tenant, kind, day). Counts only: no person, handle or text is stored here, so
-- erasure has nothing to reach in this table.
-- Engine: ReplacingMergeTree(updated_at). A report run twice over the same days must not raise the same alert
--   twice: alert_id is a hash of (tenant, kind, day), the report skips ids already stored, and a row rewritten
--   because a failed webhook delivery later succeeded replaces the earlier one (the latest update wins).
-- Partition: by month of the alert's day: alerts are read by recency ("last 30 days") and are few, so monthly
--   parts stay small and old months can be dropped whole.
-- Order key: (tenant, day, kind): per tenant, by time, and unique per kind and day, which is what makes a
--   repeated alert collapse into one row.
-- details: JSON text with the day's mention and negative counts and the detector settings.
CREATE TABLE IF NOT EXISTS alerts
(
    tenant LowCardinality(String),
    alert_id String,
    kind LowCardinality(String),
    day Date,
    raised_at DateTime64(3, 'UTC'),
    value Float64,
    baseline_median Float64,
    mad Float64,
    threshold Float64,
    details String,
    notified UInt8,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, kind)
