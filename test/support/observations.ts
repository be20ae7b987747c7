// What the identity stage's warehouse does for the online graph, in memory, for tests and benches of the resolver
// alone: it keeps every observation the graph resolved (the latest version of each message), gives back those that
// state given identifiers (what the graph reads when it resolves a part again), and keeps each message's current
// profile by applying each result, part moves included (their stored messages are found by identifier).
import type { NodeKey, Observation } from "../../identity/graph.ts"
import { nodeKey } from "../../identity/graph.ts"
import type { Needed, ProfileChange, ResolveResult, TenantGraph } from "../../identity/resolver.ts"

export class StoredObservations {
  private readonly latest = new Map<string, Observation>()
  private readonly byNode = new Map<NodeKey, Set<string>>()
  private readonly current = new Map<string, string>()

  /** Stored observations that state one of `nodes`. */
  readonly stating = (nodes: ReadonlyArray<NodeKey>): Array<Observation> => {
    const ids = new Set<string>()
    for (const n of nodes) for (const id of this.byNode.get(n) ?? []) ids.add(id)
    return [...ids].map((id) => this.latest.get(id)!)
  }

  /** What a graph reads back: stored observations stating the identifiers, and those of the messages. */
  readonly read = (needed: Needed): Array<Observation> => [
    ...this.stating(needed.nodes),
    ...needed.messages.flatMap((id) => { const o = this.latest.get(id); return o === undefined ? [] : [o] }),
  ]

  /** Resolves a batch with the graph (reading back what it needs), stores it, and applies the result. */
  resolve(graph: TenantGraph, batch: ReadonlyArray<Observation>): ResolveResult & { readonly allMoved: ReadonlyArray<ProfileChange> } {
    const r = graph.resolve(batch, this.read)
    const allMoved: Array<ProfileChange> = [...r.moved]
    const movedIds = new Set(r.moved.map((m) => m.messageId))
    // Stored messages of parts that moved whole (before this batch is stored: its own messages are in r.profiles).
    for (const m of r.partMoves) {
      for (const o of this.stating(m.nodes)) {
        if (movedIds.has(o.messageId)) continue
        movedIds.add(o.messageId)
        allMoved.push({ messageId: o.messageId, profileId: m.toProfile, previous: m.fromProfile })
      }
    }
    for (const m of allMoved) this.current.set(m.messageId, m.profileId)
    for (const [id, p] of r.profiles) this.current.set(id, p)
    for (const o of batch) {
      const before = this.latest.get(o.messageId)
      if (before !== undefined) for (const s of before.sightings) this.byNode.get(nodeKey(s.kind, s.value))?.delete(o.messageId)
      this.latest.set(o.messageId, o)
      for (const s of o.sightings) {
        const key = nodeKey(s.kind, s.value)
        let ids = this.byNode.get(key)
        if (ids === undefined) this.byNode.set(key, ids = new Set())
        ids.add(o.messageId)
      }
    }
    return { ...r, allMoved }
  }

  /** A message's profile now. */
  profileOf(messageId: string): string | undefined {
    return this.current.get(messageId)
  }

  get messageCount(): number {
    return this.latest.size
  }
}
