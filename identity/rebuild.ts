// `cdp identity rebuild`: the whole graph recomputed from the stored observations with the current rules (after a
// rule or configuration change), deterministically; every message whose profile differs from what `events` shows is
// moved, and what moved is reported.
import { Effect } from "effect"
import { type MergeRow, storeIdentity } from "../warehouse/identity.ts"
import { Warehouse } from "../warehouse/warehouse.ts"
import { loadGraphInput } from "./operations.ts"
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
  const input = yield* loadGraphInput(onlyTenant, config.extract.blocked)
  const summaries: Array<RebuildSummary> = []
  for (const [tenant, observations] of input.observations) {
    const t0 = performance.now()
    const graph = new IdentityResolver(config.rules, input.decisions).graph(tenant)
    const result = graph.resolve(observations)
    const current = yield* warehouse.query<{ message_id: string; profile_id: string }>(
      "SELECT message_id, profile_id FROM events WHERE tenant = {tenant:String}", { params: { tenant } })
    const moved = []
    const merges = new Map<string, MergeRow>()
    const before = new Set(current.map((row) => row.profile_id))
    for (const row of current) {
      const profile = result.profiles.get(row.message_id)
      if (profile === undefined || profile === row.profile_id) continue
      moved.push({ tenant, messageId: row.message_id, profileId: profile })
      const key = `${row.profile_id}\n${profile}`
      const m = merges.get(key)
      merges.set(key, m === undefined
        ? {
          tenant, fromProfile: row.profile_id, toProfile: profile, kind: before.has(profile) ? "merge" : "split", messages: 1,
          reason: "identity rebuild with the current rules",
        }
        : { ...m, messages: m.messages + 1 })
    }
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
