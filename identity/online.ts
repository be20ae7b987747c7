// The online identity graph against the warehouse. The graph (identity/resolver.ts) keeps identifiers and parts, not
// messages; here a batch is resolved with it, reading back from identity_sightings the stored observations that a
// re-resolution needs (with operators' links, which live in identity_operations), and the stored messages of parts
// that moved whole to another profile are found by their identifiers.
import { Effect } from "effect"
import { messagesStating, readStoredStating } from "../warehouse/identity.ts"
import { nodeKey, type NodeKey, type Observation, type Sighting } from "./graph.ts"
import type { CompiledBlockRules } from "./guardrails.ts"
import type { IdentifierKind } from "./normalise.ts"
import type { ResolveResult, TenantGraph } from "./resolver.ts"
import { inSlices, mapSteps } from "./slices.ts"

/** What reading stored observations back needs besides the warehouse. */
export interface ReadBack {
  /** Today's block rules: a value blocked after it was stored links nothing (as when the graph is loaded). */
  readonly blocked: CompiledBlockRules
  /** Operators' links per tenant, as observations ("operator:" ids): the graph's input, not stored as observations. */
  readonly operatorLinks: ReadonlyMap<string, ReadonlyArray<Observation>>
}

/**
 * Resolves one tenant's batch with its graph, reading back what a re-resolution needs; in slices (identity/slices.ts):
 * a batch can be a tenant's whole history (a start, a reload after an operator's decision).
 */
export const resolveOnline = Effect.fn("resolveOnline")(function* (
  graph: TenantGraph, tenant: string, batch: ReadonlyArray<Observation>, readBack: ReadBack,
) {
  let needed = yield* inSlices(graph.beginSteps(batch))
  const read: Array<Observation> = []
  const links = readBack.operatorLinks.get(tenant) ?? []
  while (needed.nodes.length > 0 || needed.messages.length > 0) {
    const rows = yield* readStoredStating(tenant, needed.nodes, needed.messages)
    // A part resolved again can hold a tenant's whole history: read in slices.
    const more: Array<Observation> = yield* inSlices(mapSteps(rows, (row) => ({
      messageId: row.messageId, timeMs: row.timeMs,
      sightings: row.sightings
        .filter((s) => readBack.blocked.reasonFor(s.kind as IdentifierKind, s.value, tenant) === undefined) as Array<Sighting>,
    })))
    if (links.length > 0) {
      const wanted = new Set<NodeKey>(needed.nodes)
      for (const o of links) if (o.sightings.some((s) => wanted.has(nodeKey(s.kind, s.value)))) more.push(o)
    }
    for (const o of more) read.push(o)
    needed = { nodes: yield* inSlices(graph.widenSteps(more)), messages: [] }
  }
  return yield* inSlices(graph.finishSteps(read))
})

/** A stored message that moved with its part, and the groups of moves (from, to) with their counts. */
export interface StoredMoves {
  readonly moved: ReadonlyArray<{ readonly messageId: string; readonly profileId: string }>
  readonly merges: ReadonlyArray<{ readonly fromProfile: string; readonly toProfile: string; readonly kind: "merge" | "split"; readonly messages: number }>
}

/**
 * The stored messages of the parts that moved whole (found by their identifiers, every part of the batch in one
 * read), with their groups. A stored message's identifiers lie in one part, so it belongs to one move.
 */
export const storedMoves = Effect.fn("storedMoves")(function* (tenant: string, r: ResolveResult) {
  if (r.partMoves.length === 0) return { moved: [], merges: [] } satisfies StoredMoves
  const moveOf = new Map<NodeKey, number>()
  r.partMoves.forEach((m, i) => { for (const key of m.nodes) moveOf.set(key, i) })
  const counts = r.partMoves.map(() => 0)
  const moved: Array<StoredMoves["moved"][number]> = []
  const seen = new Set<string>()
  for (const { key, messageId } of yield* messagesStating(tenant, [...moveOf.keys()])) {
    if (seen.has(messageId)) continue
    seen.add(messageId)
    const i = moveOf.get(key)!
    counts[i]! += 1
    moved.push({ messageId, profileId: r.partMoves[i]!.toProfile })
  }
  const merges = r.partMoves.flatMap((m, i) =>
    counts[i]! === 0 ? [] : [{ fromProfile: m.fromProfile, toProfile: m.toProfile, kind: m.kind, messages: counts[i]! }])
  return { moved, merges } satisfies StoredMoves
})
