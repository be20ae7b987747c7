-- audience_versions: every saved version of every audience (identity/audiences/): its name, the purpose its members
--   must consent to, its condition (JSON, identity/audiences/condition.schema.json), who saved it, when and a note. The
--   latest version is the audience; the versions together are its edit history (cdp audience history).
-- Engine: MergeTree, append-only: an edit adds a version, nothing is rewritten, so the history cannot be lost.
-- Partition: none (a few rows per audience). Order key: (tenant, audience_id, version): an audience is read whole.
CREATE TABLE IF NOT EXISTS audience_versions
(
    tenant LowCardinality(String),
    audience_id String,
    version UInt32,
    name String,
    purpose LowCardinality(String),
    condition String,
    deleted UInt8,
    actor String,
    note String,
    at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (tenant, audience_id, version);

-- audience_members: who is in each audience now: one row per (audience, profile) ever a member, the latest state
--   wins (member 1 in, 0 out), with when and why it entered (the conditions that matched, with their values, JSON).
-- Engine: ReplacingMergeTree(seq): an exit replaces the entry's row (the seq of the change that made it); read with
--   FINAL.
-- Partition: none (one row per member). Order key: (tenant, audience_id, profile_id), the replacing key; members
--   of one audience are one range.
CREATE TABLE IF NOT EXISTS audience_members
(
    tenant LowCardinality(String),
    audience_id String,
    profile_id String,
    member UInt8,
    since DateTime64(3, 'UTC'),
    why String,
    seq UInt64
)
ENGINE = ReplacingMergeTree(seq)
ORDER BY (tenant, audience_id, profile_id);

-- audience_changes: the changes feed: every entry and exit of every audience, with its time and cause, numbered per
--   audience (seq, from 1, increasing), so exports read it by cursor (identity/audiences audienceChangesSince).
-- Engine: MergeTree, append-only (a change is a fact). Partition: by month of the change: old months can be dropped
--   whole. Order key: (tenant, audience_id, seq): a cursor read is one range.
CREATE TABLE IF NOT EXISTS audience_changes
(
    tenant LowCardinality(String),
    audience_id String,
    profile_id String,
    change LowCardinality(String),
    at DateTime64(3, 'UTC'),
    cause String,
    seq UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (tenant, audience_id, seq);
