-- identity_observations: what each message stated about its sender, normalised, with the trust of each sighting
--   and the raw value as sent (for display). The identity graph is a function of these rows alone: the online
--   resolver's state is rebuilt from them after a restart, and `cdp identity rebuild` recomputes from them.
-- Engine: ReplacingMergeTree(observed_at): a replayed message replaces its own row.
-- Partition: none by time; rows are small and read whole per tenant at start-up. Order key: (tenant, message_id).
CREATE TABLE IF NOT EXISTS identity_observations
(
    tenant LowCardinality(String),
    message_id String,
    timestamp DateTime64(3, 'UTC'),
    sightings Array(Tuple(kind LowCardinality(String), value String, raw String, trust LowCardinality(String))),
    refused Array(Tuple(kind LowCardinality(String), raw String, reason String)),
    observed_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(observed_at)
ORDER BY (tenant, message_id);

-- identity_links: provenance of the graph: which message linked which two identifiers, when, by which rule and
--   trust, and whether the link holds or was refused (with the reason: a per-profile limit, a shared value, an
--   unverified value between two known people). Rewritten when a part of the graph is re-resolved.
-- Engine: ReplacingMergeTree(resolved_at): the latest resolution of a (link, message) wins.
-- Order key: (tenant, a, b, message_id): `cdp identity explain` walks links by identifier.
CREATE TABLE IF NOT EXISTS identity_links
(
    tenant LowCardinality(String),
    a String,
    b String,
    message_id String,
    timestamp DateTime64(3, 'UTC'),
    trust LowCardinality(String),
    rule LowCardinality(String),
    status LowCardinality(String),
    reason String,
    resolved_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(resolved_at)
ORDER BY (tenant, a, b, message_id);

-- event_profiles: the current profile of every message whose profile changed after it landed (a merge or a split).
--   `events` reads through it (see 011), so a merge rewrites two short columns per moved message, never the events.
-- Engine: ReplacingMergeTree(version); readers take the latest version per message (argMax).
-- Order key: (tenant, message_id): joined to events by message.
CREATE TABLE IF NOT EXISTS event_profiles
(
    tenant LowCardinality(String),
    message_id String,
    profile_id String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, message_id);

-- profile_merges: every merge (messages of one profile moved to another, the older id kept) and split (a part
--   moved to a new id), with when and why, so ids held downstream (CRMs, exports) can be redirected.
-- Engine: MergeTree, append-only history. Order key: (tenant, from_profile, at).
CREATE TABLE IF NOT EXISTS profile_merges
(
    tenant LowCardinality(String),
    from_profile String,
    to_profile String,
    kind LowCardinality(String),
    messages UInt64,
    reason String,
    at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (tenant, from_profile, at)
;

-- identity_nodes: every identifier (kind, normalised value) with the profile it belongs to now, the raw value
--   first seen for display, and the strongest trust it was seen with. Written for each part of the graph that is
--   re-resolved, so a lookup by identifier (`cdp profile show EMAIL`, GET /v1/profiles/KIND:VALUE) is one key read.
--   A value that changed owner has one row per time slice (slice 0 = before the first change).
-- Engine: ReplacingMergeTree(version): the latest resolution wins. Order key: (tenant, kind, value, slice).
CREATE TABLE IF NOT EXISTS identity_nodes
(
    tenant LowCardinality(String),
    kind LowCardinality(String),
    value String,
    slice UInt16,
    profile_id String,
    shared String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, kind, value, slice)
