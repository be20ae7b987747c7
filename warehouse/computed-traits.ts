// The computed-trait tables' one owner (migration 075): definitions in force, the backfill of a new definition's
// states, a profile's values (from the states, or from its events when a split makes the states inexact), and the
// preview of a definition over a tenant's events.
import { Effect } from "effect"
import { type ProfileScope, scopeCondition } from "./identity.ts"
import type { ReadScope } from "./profiles.ts"
import { interactiveTurn, Warehouse, type WarehouseShape } from "./warehouse.ts"
import { onWarehouseWrite } from "./writes.ts"

/** A definition as stored (identity/computed-traits.ts validates and hashes it). */
export interface StoredDefinition {
  readonly scope: string
  readonly name: string
  readonly version: string
  readonly kind: string
  readonly events: ReadonlyArray<string>
  readonly channels: ReadonlyArray<string>
  readonly field: string
  readonly property: string
  readonly window_days: number
}

/** Partial aggregates of one trait: what the value of each kind is made of. */
export interface Aggregates {
  readonly name: string
  readonly n: string
  readonly total: number
  readonly first: string
  readonly last: string
  readonly counts: [Array<string>, Array<string>]
}

const DEFINITION_COLUMNS = "scope, name, toString(version) AS version, kind, events, channels, field, property, window_days"

/** Every definition in force (active), of every scope. */
export const definitionsInForce = Effect.fn("definitionsInForce")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<StoredDefinition>(
    `SELECT ${DEFINITION_COLUMNS} FROM computed_trait_definitions FINAL WHERE active = 1 ORDER BY scope, name`)
})

/**
 * Per embedded warehouse, each tenant's definitions as last read (every profile read asks), forgotten on any write
 * to the definitions (warehouse/writes.ts). Not kept with a ClickHouse server: another process may change them.
 */
const remembered = new WeakMap<WarehouseShape, { generation: number; readonly tenants: Map<string, ReadonlyArray<StoredDefinition>> }>()

const memoOf = (warehouse: WarehouseShape) => {
  let memo = remembered.get(warehouse)
  if (memo === undefined) {
    const m = { generation: 0, tenants: new Map<string, ReadonlyArray<StoredDefinition>>() }
    remembered.set(warehouse, memo = m)
    onWarehouseWrite(warehouse, (w) => {
      if (w.kind === "insert" ? w.table === "computed_trait_definitions" : /computed_trait_definitions/.test(w.sql) || !/^\s*INSERT\s+INTO\s+computed_trait_states\b/i.test(w.sql)) {
        m.generation++
        m.tenants.clear()
      }
    })
  }
  return memo
}

/** The definitions in force for one tenant: its own and the "*" ones. */
export const tenantDefinitions = Effect.fn("tenantDefinitions")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  const memo = warehouse.backend.kind === "embedded" ? memoOf(warehouse) : undefined
  const known = memo?.tenants.get(tenant)
  if (known !== undefined) return known
  const generation = memo?.generation
  const rows = yield* warehouse.query<StoredDefinition>(
    `SELECT ${DEFINITION_COLUMNS} FROM computed_trait_definitions FINAL WHERE active = 1 AND scope IN ({tenant:String}, '*') ORDER BY name`,
    { params: { tenant } })
  // Kept only if no write to the definitions ended while they were read.
  if (memo !== undefined && memo.generation === generation) memo.tenants.set(tenant, rows)
  return rows
})

/**
 * Stores a definition (or its retirement, active = 0) and, for an active one, backfills its states from every row
 * that landed up to its `defined_at`; the materialized views take every row after it. Same SELECT as the views.
 */
export const storeDefinition = Effect.fn("storeDefinition")(function* (d: StoredDefinition, active: boolean) {
  const warehouse = yield* Warehouse
  const [row] = yield* warehouse.query<{ at: string }>("SELECT toString(now64(3, 'UTC')) AS at")
  const definedAt = row!.at
  yield* warehouse.insert("computed_trait_definitions", [{
    scope: d.scope, name: d.name, version: d.version, kind: d.kind, events: d.events, channels: d.channels, field: d.field,
    property: d.property, window_days: d.window_days, defined_at: definedAt, active: active ? 1 : 0,
  }])
  if (!active) return
  const params = { scope: d.scope, name: d.name, version: d.version, definedAt }
  const def = "(SELECT * FROM computed_trait_definitions FINAL WHERE scope = {scope:String} AND name = {name:String} AND version = {version:UInt64} " +
    "AND defined_at = toDateTime64({definedAt:String}, 3, 'UTC'))"
  if (d.kind === "latest_sentiment") {
    yield* warehouse.command(
      "INSERT INTO computed_trait_states SELECT tenant, profile_id, name, version, day, count() AS n, sum(score) AS total, " +
        "argMinState(v, (timestamp, message_id, scored_at)) AS first, argMaxState(v, (timestamp, message_id, scored_at)) AS last, " +
        "CAST(([], []), 'Tuple(Array(String), Array(UInt64))') AS counts FROM (" +
        "SELECT s.tenant AS tenant, s.profile_id AS profile_id, d.name AS name, d.version AS version, toDate(s.timestamp) AS day, " +
        "s.timestamp AS timestamp, s.message_id AS message_id, s.scored_at AS scored_at, toFloat64(s.score) AS score, " +
        "concat('{\"label\":', toJSONString(toString(s.label)), ',\"score\":', toString(round(toFloat64(s.score), 3)), '}') AS v " +
        `FROM sentiment AS s INNER JOIN ${def} AS d ON d.scope = s.tenant OR d.scope = '*' ` +
        "WHERE s.scored_at <= d.defined_at AND s.status = 'scored' AND (empty(d.channels) OR has(d.channels, toString(s.channel)))) " +
        "GROUP BY tenant, profile_id, name, version, day", params)
    return
  }
  yield* warehouse.command(
    "INSERT INTO computed_trait_states SELECT tenant, profile_id, name, version, day, count() AS n, sum(num) AS total, " +
      "argMinState(v, (timestamp, message_id, ingested_at)) AS first, argMaxState(v, (timestamp, message_id, ingested_at)) AS last, " +
      "sumMap(if(kind = 'most_frequent', [v], []), if(kind = 'most_frequent', [toUInt64(1)], [])) AS counts FROM (" +
      "SELECT e.tenant AS tenant, e.profile_id AS profile_id, d.name AS name, d.version AS version, d.kind AS kind, " +
      "toDate(e.timestamp) AS day, e.timestamp AS timestamp, e.message_id AS message_id, e.ingested_at AS ingested_at, " +
      "multiIf(d.field = 'event', toJSONString(e.event), d.field = 'channel', toJSONString(toString(e.channel)), " +
      "d.field = 'property', JSONExtractRaw(e.properties, d.property), '') AS v, toFloat64OrZero(trim(BOTH '\"' FROM v)) AS num " +
      `FROM event_rows AS e INNER JOIN ${def} AS d ON d.scope = e.tenant OR d.scope = '*' ` +
      "WHERE e.ingested_at <= d.defined_at AND (empty(d.events) OR has(d.events, e.event)) " +
      "AND (empty(d.channels) OR has(d.channels, toString(e.channel))) AND (d.field = '' OR v NOT IN ('', 'null', '\"\"'))) " +
      "GROUP BY tenant, profile_id, name, version, day", params)
})

/**
 * Whether the profiles a profile's messages landed under are whole in it (none of their messages is elsewhere now):
 * only then do their states add up to the profile's values. One read by event_rows' order key.
 */
export const landedProfiles = Effect.fn("landedProfiles")(function* (scope: ReadScope) {
  if (scope.landed === undefined) return { landed: [], whole: false }
  const landed = Object.keys(scope.landed)
  // The read scope already knows (every message landed here, none moved away): no count needed.
  if (scope.whole !== undefined) return { landed, whole: scope.whole }
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ profile_id: string; n: string }>(
    "SELECT profile_id, uniqExact(message_id) AS n FROM event_rows WHERE tenant = {tenant:String} AND profile_id IN {landed:Array(String)} GROUP BY profile_id",
    { params: { tenant: scope.tenant, landed } })
  const all = new Map(rows.map((r) => [r.profile_id, Number(r.n)]))
  return { landed, whole: landed.every((l) => all.get(l) === scope.landed![l]) }
})

/**
 * A profile's aggregates per trait in force (`definitions`, as tenantDefinitions gives them), from the states of the
 * profiles its messages landed under. The definitions come from the caller rather than from a join with
 * computed_trait_definitions FINAL in the statement: the reader already holds them, and the join cost about half of
 * this read (4-5 ms at 1M events). A (name, version) pair not in force matches no definition and is left out, as the
 * join left it out.
 */
export const stateAggregates = Effect.fn("stateAggregates")(function* (
  tenant: string, landed: ReadonlyArray<string>, definitions: ReadonlyArray<Pick<StoredDefinition, "name" | "version" | "window_days">>,
) {
  if (definitions.length === 0 || landed.length === 0) return []
  const warehouse = yield* Warehouse
  const { sql, params } = stateAggregatesSql(tenant, landed, definitions)
  return yield* warehouse.query<Aggregates>(sql, { params })
})

const stateAggregatesSql = (
  tenant: string, landed: ReadonlyArray<string>, definitions: ReadonlyArray<Pick<StoredDefinition, "name" | "version" | "window_days">>,
  owner?: string,
) => {
  // Windows count whole days, today included: "last 30 days" is today and the 29 before it.
  const window = "(w = 0 OR day > today() - w)"
  return {
    sql: "WITH indexOf({ct_keys:Array(String)}, concat(toString(version), ':', name)) AS i, arrayElement({ct_windows:Array(UInt16)}, i) AS w " +
      `SELECT ${owner === undefined ? "" : `${owner} AS owner, `}name, sumIf(n, ${window}) AS n, sumIf(total, ${window}) AS total, argMinMerge(first) AS first, argMaxMerge(last) AS last, ` +
      `sumMapIf(counts, ${window}) AS counts FROM computed_trait_states ` +
      `WHERE tenant = {tenant:String} AND profile_id IN {landed:Array(String)} AND i > 0 GROUP BY ${owner === undefined ? "" : "owner, "}name`,
    params: { tenant, landed, ct_keys: definitions.map((d) => `${d.version}:${d.name}`), ct_windows: definitions.map((d) => d.window_days) },
  }
}

/** stateAggregates as one column (`computed`) of another statement (a profile read's), with what reads its value. */
export const stateAggregatesColumns = (
  tenant: string, landed: ReadonlyArray<string>, definitions: ReadonlyArray<Pick<StoredDefinition, "name" | "version" | "window_days">>,
) => {
  const { sql, params } = stateAggregatesSql(tenant, landed, definitions)
  return {
    columns: { computed: `(SELECT groupArray((name, toString(n), total, first, last, counts)) FROM (${sql}))` },
    params,
    decode: (value: unknown): Array<Aggregates> =>
      ((value ?? []) as Array<[string, string, number, string, string, [Array<string>, Array<string>]]>)
        .map(([name, n, total, first, last, counts]) => ({ name, n, total: Number(total), first, last, counts })),
  }
}

/**
 * stateAggregatesColumns of many profiles at once (profile documents, warehouse/profile-documents.ts), each profile
 * the owner of its landing profiles (`landed`, each landing profile of one owner): one column
 * (`computed_by_profile`); `byProfile` gives each owner's value of stateAggregatesColumns' column from it.
 */
export const stateAggregatesByProfileColumns = (
  tenant: string, landed: ReadonlyMap<string, string>, definitions: ReadonlyArray<Pick<StoredDefinition, "name" | "version" | "window_days">>,
) => {
  const { sql, params } = stateAggregatesSql(tenant, [...landed.keys()], definitions, "transform(profile_id, {ct_landing:Array(String)}, {ct_owner:Array(String)}, '')")
  return {
    columns: { computed_by_profile: `(SELECT groupArray((owner, (name, toString(n), total, first, last, counts))) FROM (${sql}))` },
    params: { ...params, ct_landing: [...landed.keys()], ct_owner: [...landed.values()] },
    byProfile: (value: unknown): Map<string, Array<unknown>> => {
      const out = new Map<string, Array<unknown>>()
      for (const [p, row] of (value ?? []) as Array<[string, unknown]>) {
        const list = out.get(p)
        if (list === undefined) out.set(p, [row])
        else list.push(row)
      }
      return out
    },
  }
}

/** One definition's parameters, as the exact computations below take them. */
const definitionParams = (d: Pick<StoredDefinition, "kind" | "events" | "channels" | "field" | "property" | "window_days">) => ({
  kind: d.kind, events: d.events, channels: d.channels, field: d.field, property: d.property, window: d.window_days,
})

/**
 * The aggregates of one definition per profile, computed from the events themselves (`from` selects tenant, profile_id,
 * message_id, timestamp, event, channel, properties of the rows to read): what the states hold, without them.
 */
const exactSql = (from: string) =>
  "SELECT profile_id, countIf(w) AS n, sumIf(num, w) AS total, argMin(v, (timestamp, message_id)) AS first, " +
  "argMax(v, (timestamp, message_id)) AS last, sumMapIf([v], [toUInt64(1)], w AND {kind:String} = 'most_frequent') AS counts FROM (" +
  "SELECT profile_id, timestamp, message_id, multiIf({field:String} = 'event', toJSONString(event), {field:String} = 'channel', " +
  "toJSONString(toString(channel)), {field:String} = 'property', JSONExtractRaw(properties, {property:String}), '') AS v, " +
  "toFloat64OrZero(trim(BOTH '\"' FROM v)) AS num, ({window:UInt16} = 0 OR toDate(timestamp) > today() - {window:UInt16}) AS w " +
  `FROM ${from} WHERE (empty({events:Array(String)}) OR has({events:Array(String)}, event)) ` +
  "AND (empty({channels:Array(String)}) OR has({channels:Array(String)}, toString(channel))) AND ({field:String} = '' OR v NOT IN ('', 'null', '\"\"'))) " +
  "GROUP BY profile_id"

const exactSentimentSql = (from: string) =>
  "SELECT profile_id, count() AS n, sum(toFloat64(score)) AS total, " +
  "argMin(v, (timestamp, message_id, scored_at)) AS first, argMax(v, (timestamp, message_id, scored_at)) AS last, " +
  "CAST(([], []), 'Tuple(Array(String), Array(UInt64))') AS counts FROM (" +
  "SELECT profile_id, timestamp, message_id, scored_at, score, " +
  "concat('{\"label\":', toJSONString(toString(label)), ',\"score\":', toString(round(toFloat64(score), 3)), '}') AS v " +
  `FROM ${from} WHERE status = 'scored' AND (empty({channels:Array(String)}) OR has({channels:Array(String)}, toString(channel)))) GROUP BY profile_id`

/** One profile's aggregates of each definition, from its own events (when its states would not add up). */
export const exactAggregates = Effect.fn("exactAggregates")(function* (scope: ProfileScope, definitions: ReadonlyArray<StoredDefinition>) {
  const warehouse = yield* Warehouse
  const { mine, params } = scopeCondition(scope)
  const rows = yield* Effect.forEach(definitions, (d) => {
    const from = d.kind === "latest_sentiment"
      ? `(SELECT {profile:String} AS profile_id, * EXCEPT profile_id FROM sentiment WHERE ${mine})`
      : `(SELECT {profile:String} AS profile_id, message_id, timestamp, event, channel, properties FROM event_rows WHERE ${mine} LIMIT 1 BY message_id)`
    return Effect.map(
      warehouse.query<Omit<Aggregates, "name">>((d.kind === "latest_sentiment" ? exactSentimentSql : exactSql)(from), { params: { ...params, ...definitionParams(d) } }),
      (r) => (r[0] === undefined ? [] : [{ ...r[0], name: d.name }]))
  }, { concurrency: 4 })
  return rows.flat()
})

/** One definition over a tenant's profiles now (the events view): each profile's aggregates, in a stable sample order. */
/**
 * How long a preview's query may run: it reads every matching event of the tenant, and a console or CLI waits for it
 * while others share the engine (WarehouseQueryError code 159 past it).
 */
export const TRAITS_PREVIEW_SECONDS = 30

export const previewAggregates = Effect.fn("previewAggregates")(function* (
  tenant: string, d: Pick<StoredDefinition, "kind" | "events" | "channels" | "field" | "property" | "window_days">, seconds = TRAITS_PREVIEW_SECONDS,
) {
  const warehouse = yield* Warehouse
  const from = d.kind === "latest_sentiment"
    ? "(SELECT e.profile_id AS profile_id, s.* EXCEPT profile_id FROM sentiment AS s INNER JOIN " +
      "(SELECT message_id, profile_id FROM events WHERE tenant = {tenant:String}) AS e ON e.message_id = s.message_id WHERE s.tenant = {tenant:String})"
    : "(SELECT profile_id, message_id, timestamp, event, channel, properties FROM events WHERE tenant = {tenant:String})"
  return yield* interactiveTurn(tenant)(warehouse.query<Omit<Aggregates, "name"> & { profile_id: string }>(
    `SELECT * FROM (${(d.kind === "latest_sentiment" ? exactSentimentSql : exactSql)(from)}) ORDER BY cityHash64(profile_id)`,
    { params: { tenant, ...definitionParams(d) }, maxExecutionSeconds: seconds }))
})
