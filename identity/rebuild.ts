// `cdp identity rebuild`: the whole graph recomputed from the stored observations with the current rules (after a
// rule or configuration change), deterministically; every message whose profile differs from what `events` shows is
// moved, and what moved is reported.
import { Effect } from "effect"
import { loadObservations, type MergeRow, storeIdentity } from "../warehouse/identity.ts"
import { Warehouse } from "../warehouse/warehouse.ts"
import type { Observation } from "./graph.ts"
import { IdentityResolver } from "./resolver.ts"
import { type IdentityConfig, linkRows, nodeRows } from "./stage.ts"

export interface RebuildSummary {
  readonly tenant: string
  readonly messages: number
  readonly profilesBefore: number
  readonly profilesAfter: number
  readonly moved: number
  readonly seconds: number
}

export const rebuildIdentity = Effect.fn("rebuildIdentity")(function* (config: IdentityConfig, onlyTenant?: string) {
  const warehouse = yield* Warehouse
  const started = performance.now()
  const stored = yield* loadObservations()
  const byTenant = new Map<string, Array<Observation>>()
  for (const o of stored) {
    if (onlyTenant !== undefined && o.tenant !== onlyTenant) continue
    const list = byTenant.get(o.tenant)
    if (list === undefined) byTenant.set(o.tenant, [o as Observation])
    else list.push(o as Observation)
  }
  const summaries: Array<RebuildSummary> = []
  for (const [tenant, observations] of byTenant) {
    const t0 = performance.now()
    const graph = new IdentityResolver(config.rules).graph(tenant)
    const result = graph.resolve(observations)
    const current = yield* warehouse.query<{ message_id: string; profile_id: string }>(
      "SELECT message_id, profile_id FROM events WHERE tenant = {tenant:String}", { params: { tenant } })
    const moved = []
    const merges = new Map<string, MergeRow>()
    const before = new Set<string>()
    for (const row of current) {
      before.add(row.profile_id)
      const profile = result.profiles.get(row.message_id)
      if (profile === undefined || profile === row.profile_id) continue
      moved.push({ tenant, messageId: row.message_id, profileId: profile })
      const key = `${row.profile_id}\n${profile}`
      const m = merges.get(key)
      merges.set(key, m === undefined
        ? { tenant, fromProfile: row.profile_id, toProfile: profile, kind: "merge", messages: 1, reason: "identity rebuild with the current rules" }
        : { ...m, messages: m.messages + 1 })
    }
    for (const m of merges.values()) if (!before.has(m.toProfile)) merges.set(`${m.fromProfile}\n${m.toProfile}`, { ...m, kind: "split" })
    yield* storeIdentity({
      observations: [], links: linkRows(tenant, result), moved, merges: [...merges.values()], nodes: nodeRows(tenant, result).map(([, row]) => row),
    })
    summaries.push({
      tenant, messages: current.length, profilesBefore: before.size,
      profilesAfter: new Set(current.map((r) => result.profiles.get(r.message_id) ?? r.profile_id)).size,
      moved: moved.length, seconds: (performance.now() - t0) / 1000,
    })
  }
  return { tenants: summaries, seconds: (performance.now() - started) / 1000 }
})
