// The online identity graph's state as plain data (strings, numbers, typed arrays): what a snapshot stores
// (identity/snapshot.ts), and how a graph is put back in that state.
import { type NodeKey } from "./graph.ts"
import { NONE, Part } from "./graph-store.ts"
import { grow, type Typed } from "./interning.ts"
import { ReresolvingGraph } from "./reresolution.ts"
import { pauseAt, runSteps, type Steps } from "./slices.ts"

export interface PartState {
  readonly id: number
  readonly nodes: Int32Array<ArrayBuffer>
  readonly clean: boolean
  /** Index into the profile table, -1 for a part that is not clean. */
  readonly profile: number
  readonly oldestTimeMs: number
  readonly oldestMessage: string
  readonly oldestKey: NodeKey
  /** For a clean part: distinct identifiers per kind index (derived from its nodes; kept for the snapshot format). */
  readonly counts: ReadonlyArray<number>
  readonly knownStrong: number
}

/** A tenant graph as plain data (TenantGraph.toState / fromState). */
export interface GraphState {
  readonly tenant: string
  readonly kindNames: ReadonlyArray<string>
  readonly nodeValue: ReadonlyArray<string>
  readonly nodeKind: Uint8Array<ArrayBuffer>
  readonly nodeTrust: Uint8Array<ArrayBuffer>
  readonly nodePart: Int32Array<ArrayBuffer>
  readonly nodeShared: Uint8Array<ArrayBuffer>
  readonly strong: Int32Array<ArrayBuffer>
  readonly strongKnown: Uint8Array<ArrayBuffer>
  /** Index of each node's profile in profileTable (-1: none). */
  readonly nodeProfile: Int32Array<ArrayBuffer>
  readonly profileTable: ReadonlyArray<string>
  readonly parts: ReadonlyArray<PartState>
  readonly nextPart: number
  readonly shared: ReadonlyArray<readonly [NodeKey, string]>
  /** Indexes in profileTable of every profile id given so far. */
  readonly profiles: ReadonlyArray<number>
  /** The window of recently resolved messages, oldest first: hashes of their ids and their digests. */
  readonly recentKeys: Int32Array<ArrayBuffer>
  readonly recentDigests: Int32Array<ArrayBuffer>
}

export class StatefulGraph extends ReresolvingGraph {
  /**
   * The graph's state as plain data (strings, numbers, typed arrays): what a snapshot stores (identity/snapshot.ts).
   * Everything else (indexes by value) is rebuilt from it by `fromState`. It holds no messages.
   */
  toState(): GraphState {
    return runSteps(this.toStateSteps())
  }

  /** `toState` in steps (identity/slices.ts): a snapshot is taken while the server runs, and follows the graph's size. */
  *toStateSteps(): Steps<GraphState> {
    const profileIndex = new Map<string, number>()
    const profileTable: Array<string> = []
    const indexOf = (p: string) => {
      let i = profileIndex.get(p)
      if (i === undefined) {
        profileIndex.set(p, i = profileTable.length)
        profileTable.push(p)
      }
      return i
    }
    const parts: Array<PartState> = []
    let step = 0
    for (const [id, p] of this.parts) {
      if (pauseAt(step++)) yield
      parts.push({
        id, nodes: Int32Array.from(p.nodes), clean: p.clean, profile: p.clean ? indexOf(p.profile) : -1,
        oldestTimeMs: p.oldestTimeMs, oldestMessage: p.oldestMessage, oldestKey: p.oldestNode === NONE ? "" : this.keyOf(p.oldestNode), counts: p.clean ? this.countsOf(p) : [], knownStrong: p.knownStrong,
      })
    }
    const nodes = this.nodeCount
    const nodeProfile = new Int32Array(this.nodeProfile.length)
    for (let n = 0; n < nodeProfile.length; n++) {
      const p = this.nodeProfile[n]
      nodeProfile[n] = p === undefined ? -1 : indexOf(p)
      if (pauseAt(n)) yield
    }
    const profiles = new Array<number>(this.profileIds.length)
    for (let i = 0; i < profiles.length; i++) {
      profiles[i] = indexOf(this.profileIds[i]!)
      if (pauseAt(i)) yield
    }
    return {
      tenant: this.tenant, kindNames: [...this.kindNames], nodeValue: [...this.nodeValue],
      nodeKind: this.nodeKind.slice(0, nodes), nodeTrust: this.nodeTrust.slice(0, nodes), nodePart: this.nodePart.slice(0, nodes),
      nodeShared: this.nodeShared.slice(0, nodes), strong: this.strong.slice(0, nodes), strongKnown: this.strongKnown.slice(0, nodes),
      nodeProfile, profileTable, parts, nextPart: this.nextPart, shared: [...this.shared], profiles,
      recentKeys: Int32Array.from(this.recent.keys()), recentDigests: Int32Array.from(this.recent.values()),
    }
  }

  /**
   * Puts a new graph (made with the rules and operators' decisions the state was made with) in the state `toState`
   * gave (TenantGraph.fromState); in steps (identity/slices.ts): a graph is restored while the server runs (after a
   * batch failed half-way), and follows the graph's size.
   */
  protected *loadStateSteps(state: GraphState): Steps<void> {
    for (const kind of state.kindNames) this.kindOf(kind)
    const nodes = state.nodeValue.length
    this.nodeValue = [...state.nodeValue]
    this.nodeProfile = new Array<string | undefined>(state.nodeProfile.length)
    for (let n = 0; n < state.nodeProfile.length; n++) {
      const i = state.nodeProfile[n]!
      this.nodeProfile[n] = i === -1 ? undefined : state.profileTable[i]!
      if (pauseAt(n)) yield
    }
    this.nodeCount = nodes
    const cap = Math.max(1024, nodes)
    const sized = <T extends Typed>(empty: T, from: T): T => {
      const a = grow(empty, cap)
      a.set(from)
      return a
    }
    this.nodeKind = sized(new Uint8Array(0), state.nodeKind)
    this.nodeTrust = sized(new Uint8Array(0), state.nodeTrust)
    this.nodePart = sized(new Int32Array(0), state.nodePart)
    this.nodeShared = sized(new Uint8Array(0), state.nodeShared)
    this.strong = sized(new Int32Array(0), state.strong)
    this.strongKnown = sized(new Uint8Array(0), state.strongKnown)
    this.stamp = new Int32Array(cap)
    this.nodeBatch = new Int32Array(cap)
    this.nodeMoved = new Int32Array(cap)
    for (let n = 0; n < nodes; n++) {
      this.byKind[state.nodeKind[n]!]!.getOrAdd(state.nodeValue[n]!, this.nodeValue, n)
      if (pauseAt(n)) yield
    }
    let step = 0
    for (const p of state.parts) {
      if (pauseAt(step++)) yield
      const part = new Part(Array.from(p.nodes))
      part.clean = p.clean
      part.profile = p.profile === -1 ? "" : state.profileTable[p.profile]!
      part.oldestTimeMs = p.oldestTimeMs
      part.oldestMessage = p.oldestMessage
      part.oldestNode = p.oldestKey === "" ? NONE : this.nodeOf(p.oldestKey) ?? NONE
      part.knownStrong = p.knownStrong
      this.parts.set(p.id, part)
    }
    this.nextPart = state.nextPart
    for (const [key, reason] of state.shared) this.shared.set(key, reason)
    for (const i of state.profiles) {
      this.addProfile(state.profileTable[i]!)
      if (pauseAt(step++)) yield
    }
    state.recentKeys.forEach((key, i) => this.recent.set(key, state.recentDigests[i]!))
  }

  /** Each identifier the graph holds (kind and normalised value), to check a snapshot against today's block rules. */
  *identifiers(): Generator<{ readonly kind: string; readonly value: string }> {
    for (let n = 0; n < this.nodeCount; n++) yield { kind: this.kindNames[this.nodeKind[n]!]!, value: this.nodeValue[n]! }
  }

  /** Distinct identifiers per kind index of a clean part (derived from its nodes; kept for the snapshot format). */
  protected countsOf(part: Part): Array<number> {
    const counts = this.kindNames.map(() => 0)
    for (const node of part.nodes) counts[this.nodeKind[node]!]! += 1
    return counts
  }
}
