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

/** Every stored observation, tenant by tenant, for rebuilding the online graph after a restart. */
export const loadObservations = Effect.fn("loadObservations")(function* () {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ tenant: string; message_id: string; ms: string; sightings: Array<StoredSighting> }>(
    "SELECT tenant, message_id, toUnixTimestamp64Milli(argMax(timestamp, observed_at)) AS ms, " +
      "argMax(sightings, observed_at) AS sightings FROM identity_observations GROUP BY tenant, message_id",
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
