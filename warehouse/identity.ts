// The identity tables' one owner: identity_observations, identity_links, event_profiles and profile_merges
// (migration 010). Rows go in batches; the online resolver's state is read back from identity_observations.
import { Effect } from "effect"
import { chDateTime } from "./sink.ts"
import { type Row, Warehouse } from "./warehouse.ts"

export interface StoredSighting {
  readonly kind: string
  readonly value: string
  readonly raw: string
  readonly trust: string
}

export interface ObservationRow {
  readonly tenant: string
  readonly messageId: string
  /** ISO-8601 UTC. */
  readonly timestamp: string
  readonly sightings: ReadonlyArray<StoredSighting>
  readonly refused: ReadonlyArray<{ readonly kind: string; readonly raw: string; readonly reason: string }>
}

export interface LinkRow {
  readonly tenant: string
  readonly a: string
  readonly b: string
  readonly messageId: string
  readonly timeMs: number
  readonly trust: string
  readonly rule: string
  /** "linked", or "refused" with its reason. */
  readonly status: "linked" | "refused"
  readonly reason: string
}

export interface MovedRow {
  readonly tenant: string
  readonly messageId: string
  readonly profileId: string
}

export interface NodeRow {
  readonly tenant: string
  readonly kind: string
  readonly value: string
  readonly slice: number
  readonly profileId: string
  /** Why the value is shared by several people ("" when it is not). */
  readonly shared: string
}

export interface MergeRow {
  readonly tenant: string
  readonly fromProfile: string
  readonly toProfile: string
  readonly kind: "merge" | "split"
  readonly messages: number
  readonly reason: string
}

const iso = (ms: number) => new Date(ms).toISOString()

export const storeIdentity = Effect.fn("storeIdentity")(function* (update: {
  readonly observations: ReadonlyArray<ObservationRow>
  readonly links: ReadonlyArray<LinkRow>
  readonly moved: ReadonlyArray<MovedRow>
  readonly merges: ReadonlyArray<MergeRow>
  readonly nodes: ReadonlyArray<NodeRow>
}) {
  const warehouse = yield* Warehouse
  const now = Date.now()
  const at = chDateTime(iso(now))
  yield* warehouse.insert("identity_observations", update.observations.map((o): Row => ({
    tenant: o.tenant, message_id: o.messageId, timestamp: chDateTime(o.timestamp),
    sightings: o.sightings,
    refused: o.refused,
    observed_at: at,
  })))
  yield* warehouse.insert("identity_links", update.links.map((l): Row => ({
    tenant: l.tenant, a: l.a, b: l.b, message_id: l.messageId, timestamp: chDateTime(iso(l.timeMs)), trust: l.trust,
    rule: l.rule, status: l.status, reason: l.reason, resolved_at: at,
  })))
  yield* warehouse.insert("event_profiles", update.moved.map((m): Row => ({
    tenant: m.tenant, message_id: m.messageId, profile_id: m.profileId, version: now,
  })))
  yield* warehouse.insert("identity_nodes", update.nodes.map((n): Row => ({
    tenant: n.tenant, kind: n.kind, value: n.value, slice: n.slice, profile_id: n.profileId, shared: n.shared, version: now,
  })))
  yield* warehouse.insert("profile_merges", update.merges.map((m): Row => ({
    tenant: m.tenant, from_profile: m.fromProfile, to_profile: m.toProfile, kind: m.kind, messages: m.messages,
    reason: m.reason, at,
  })))
})

/** Every stored observation (or those stored since a time), tenant by tenant, for rebuilding the online graph after a restart. */
export const loadObservations = Effect.fn("loadObservations")(function* (sinceMs?: number) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ tenant: string; message_id: string; ms: string; sightings: Array<StoredSighting> }>(
    "SELECT tenant, message_id, toUnixTimestamp64Milli(argMax(timestamp, observed_at)) AS ms, " +
      "argMax(sightings, observed_at) AS sightings FROM identity_observations " +
      `${sinceMs === undefined ? "" : "WHERE observed_at >= {since:DateTime64(3, 'UTC')} "}GROUP BY tenant, message_id`,
    sinceMs === undefined ? undefined : { params: { since: chDateTime(iso(sinceMs)) } },
  )
  return rows.map((r) => ({
    tenant: r.tenant,
    messageId: r.message_id,
    timeMs: Number(r.ms),
    sightings: r.sightings.map(({ kind, value, trust }) => ({ kind, value, trust })),
  }))
})

export interface OperationRow {
  readonly tenant: string
  readonly opId: string
  readonly kind: "link" | "separate" | "remove" | "dismiss"
  /** Node keys ("kind:value"); for dismiss, `a` is the suggestion id. */
  readonly a: string
  readonly b: string
  readonly reason: string
  readonly atMs: number
}

export const storeOperation = Effect.fn("storeOperation")(function* (op: OperationRow) {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("identity_operations", [{
    tenant: op.tenant, op_id: op.opId, kind: op.kind, a: op.a, b: op.b, reason: op.reason, at: chDateTime(iso(op.atMs)),
  }])
})

/** Every operation, oldest first. */
export const loadOperations = Effect.fn("loadOperations")(function* () {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ tenant: string; op_id: string; kind: OperationRow["kind"]; a: string; b: string; reason: string; ms: string }>(
    "SELECT tenant, op_id, kind, a, b, reason, toUnixTimestamp64Milli(at) AS ms FROM identity_operations ORDER BY tenant, at, op_id")
  return rows.map((r): OperationRow => ({ tenant: r.tenant, opId: r.op_id, kind: r.kind, a: r.a, b: r.b, reason: r.reason, atMs: Number(r.ms) }))
})

/** Every message of these profiles now: those that landed with one of them and never moved, and those moved to one. */
export const subjectMessageIds = Effect.fn("subjectMessageIds")(function* (tenant: string, profileIds: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ message_id: string }>(
    "SELECT message_id FROM event_rows WHERE tenant = {tenant:String} AND profile_id IN {profiles:Array(String)} AND message_id NOT IN " +
      "(SELECT message_id FROM event_profiles WHERE tenant = {tenant:String} GROUP BY message_id HAVING argMax(profile_id, version) NOT IN {profiles:Array(String)}) " +
      "UNION DISTINCT SELECT message_id FROM event_profiles WHERE tenant = {tenant:String} GROUP BY message_id " +
      "HAVING argMax(profile_id, version) IN {profiles:Array(String)}",
    { params: { tenant, profiles: profileIds } })
  return [...new Set(rows.map((r) => r.message_id))].sort()
})

/**
 * The identifiers of these profiles: what their messages stated (normalised, every spelling as sent) and the nodes
 * the graph gives them now; `shared` when the value is shared with others or changed owner (more than one slice).
 */
export const subjectIdentifiers = Effect.fn("subjectIdentifiers")(function* (
  tenant: string, profileIds: ReadonlyArray<string>, messageIds: ReadonlyArray<string>,
) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ kind: string; value: string; raws: Array<string>; shared: number }>(
    "WITH nodes AS (SELECT kind, value, slice, argMax(profile_id, version) AS profile_id, argMax(shared, version) AS shared " +
      "FROM identity_nodes WHERE tenant = {tenant:String} GROUP BY kind, value, slice), " +
      "mine AS (SELECT toString(kind) AS kind, value FROM nodes WHERE profile_id IN {profiles:Array(String)} " +
      "UNION DISTINCT SELECT toString(s.kind) AS kind, s.value AS value FROM identity_observations ARRAY JOIN sightings AS s " +
      "WHERE tenant = {tenant:String} AND message_id IN {ids:Array(String)}), " +
      "spellings AS (SELECT toString(s.kind) AS kind, s.value AS value, groupUniqArray(s.raw) AS raws " +
      "FROM identity_observations ARRAY JOIN sightings AS s WHERE tenant = {tenant:String} " +
      "AND (toString(s.kind), s.value) IN (SELECT kind, value FROM mine) GROUP BY kind, value), " +
      "sharing AS (SELECT toString(kind) AS kind, value, countIf(shared != '' OR slice > 0) AS shared FROM nodes " +
      "WHERE (toString(kind), value) IN (SELECT kind, value FROM mine) GROUP BY kind, value) " +
      "SELECT m.kind AS kind, m.value AS value, sp.raws AS raws, sh.shared AS shared FROM mine AS m " +
      "LEFT JOIN spellings AS sp ON sp.kind = m.kind AND sp.value = m.value " +
      "LEFT JOIN sharing AS sh ON sh.kind = m.kind AND sh.value = m.value ORDER BY kind, value",
    { params: { tenant, profiles: profileIds, ids: messageIds } })
  return rows.map((r) => ({ kind: r.kind, value: r.value, raws: r.raws.filter((x) => x !== r.value).sort(), shared: Number(r.shared) > 0 }))
})

/** A stored observation as it was written: each sighting's raw value, and the values refused with their reason. */
export interface StoredObservation extends ObservationRow {
  readonly timeMs: number
}

/** Every stored observation (of one tenant, or all) with raw values and refusals, for a rebuild that reads them again. */
export const loadStoredObservations = Effect.fn("loadStoredObservations")(function* (tenant?: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{
    tenant: string; message_id: string; ms: string; sightings: Array<StoredSighting>; refused: Array<{ kind: string; raw: string; reason: string }>
  }>(
    "SELECT tenant, message_id, toUnixTimestamp64Milli(argMax(timestamp, observed_at)) AS ms, argMax(sightings, observed_at) AS sightings, " +
      `argMax(refused, observed_at) AS refused FROM identity_observations ${tenant === undefined ? "" : "WHERE tenant = {tenant:String} "}` +
      "GROUP BY tenant, message_id",
    tenant === undefined ? undefined : { params: { tenant } },
  )
  return rows.map((r): StoredObservation => ({
    tenant: r.tenant, messageId: r.message_id, timeMs: Number(r.ms), timestamp: iso(Number(r.ms)), sightings: r.sightings, refused: r.refused,
  }))
})
