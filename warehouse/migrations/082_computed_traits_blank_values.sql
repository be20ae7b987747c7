-- computed_trait_events_mv again (075's, as 044 recreated it), with one change: a blank value states nothing. The
-- value of an identify's or a page's event name is "" (they have none), and a property may be set to ""; counted as
-- the value "", they made "" the most frequent event of most profiles and the first or last value of many. A blank
-- trait states nothing either (013, 056). The backfill in warehouse/computed-traits.ts reads the same, and the
-- definitions' versions (identity/computed-traits.ts VALUE_RULES) change with it, so every definition in force is
-- backfilled again by this rule when cdp next starts; the states of the old versions are left behind, unread.
-- Migrations run before anything lands: no event falls between the drop and the create.
DROP VIEW IF EXISTS computed_trait_events_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS computed_trait_events_mv TO computed_trait_states AS
SELECT tenant, profile_id, name, version, day, count() AS n, sum(num) AS total,
    argMinState(v, (timestamp, message_id, ingested_at)) AS first, argMaxState(v, (timestamp, message_id, ingested_at)) AS last,
    sumMap(if(kind = 'most_frequent', [v], []), if(kind = 'most_frequent', [toUInt64(1)], [])) AS counts
FROM
(
    SELECT e.tenant AS tenant, e.profile_id AS profile_id, d.name AS name, d.version AS version, d.kind AS kind,
        toDate(e.timestamp) AS day, e.timestamp AS timestamp, e.message_id AS message_id, e.ingested_at AS ingested_at,
        multiIf(d.field = 'event', toJSONString(e.event), d.field = 'channel', toJSONString(toString(e.channel)),
            d.field = 'property', JSONExtractRaw(e.properties, d.property), '') AS v,
        toFloat64OrZero(trim(BOTH '"' FROM v)) AS num
    FROM event_rows AS e
    INNER JOIN (SELECT * FROM computed_trait_definitions FINAL WHERE active = 1 AND kind != 'latest_sentiment') AS d
        ON d.scope = e.tenant OR d.scope = '*'
    WHERE e.ingested_at > d.defined_at
        AND (empty(d.events) OR has(d.events, e.event))
        AND (empty(d.channels) OR has(d.channels, toString(e.channel)))
        AND (d.field = '' OR v NOT IN ('', 'null', '""'))
)
GROUP BY tenant, profile_id, name, version, day;
