// The online resolver: the identity graph of each tenant kept in memory and brought up to date message by message.
// The result is always the one a full resolution of every observation (graph.ts resolveGraph) would give, whatever
// the arrival order. The graph is split into parts that share no identifier. A part is "clean" when it is one
// profile in which every link holds (no limit reached, no shared value, no time slice, no operator decision near it):
// a new message whose identifiers are new or lie in clean parts, and that keeps the union clean, is applied as a
// union in O(identifiers) (see fast-path.ts `union` for why that is exactly what the full resolution decides). Any other message
// is deferred to the end of its batch, where the parts it touches are resolved again together with it (resolveGraph).
// Identifiers are interned into typed arrays (a node id per identifier; the indexes by value are open-addressing
// tables, not Maps), so the graph stays compact. The graph keeps identifiers and parts only, never messages: its size
// follows people, not messages, so a start from a snapshot costs the same with 1M or 10M messages stored. A batch's
// messages are held while it is resolved; messages stored before it are read back (by identifier, `begin`/`finish`)
// only when a part they belong to is resolved again, and a clean part that moves whole to another profile is
// reported as a part move, whose stored messages the caller looks up by the part's identifiers.
//
// The graph is built in layers, one idea each: graph-store.ts (the state and its small operations), fast-path.ts (a
// message applied as a union), reresolution.ts (touched parts resolved again), graph-state.ts (the state as plain
// data for snapshots); here a batch is resolved (begin, the read-back loop, finish) and replays are told apart.
import { baseOf, DEFAULT_GRAPH_RULES, FORGOTTEN, type GraphRules, type NodeKey, type Observation, splitNodeKey } from "./graph.ts"
import { type GraphState, StatefulGraph } from "./graph-state.ts"
import {
  BatchProfiles, type Needed, NO_DECISIONS, NOTHING, type OperatorDecisions, type PartMove, type ProfileChange, type ProfileMerge, type ResolveResult,
} from "./resolution.ts"
import { hashOf, StringIds } from "./interning.ts"
import { pauseAt, runSteps, type Steps } from "./slices.ts"

export type { GraphState, PartState } from "./graph-state.ts"
export {
  NO_DECISIONS, type Needed, type OperatorDecisions, type PartMove, type ProfileChange, type ProfileMerge, type ResolveResult,
} from "./resolution.ts"

/**
 * How many recently resolved messages each tenant's graph remembers (a digest of their time and identifiers), to tell
 * a message sent again with other identifiers from a replay; the window is in the snapshot, so a restart keeps it. An
 * older message sent again with other identifiers adds what it states now where its part is clean (the graph cannot
 * withdraw what it stated before without reading it, and finding out that it was stored at all would cost a read by
 * message id for every new message).
 */
export const RECENT_MESSAGES = 100_000

/** One tenant's graph. */
export class TenantGraph extends StatefulGraph {
  constructor(tenant: string, rules: GraphRules = DEFAULT_GRAPH_RULES, decisions: OperatorDecisions = NO_DECISIONS) {
    super(tenant, rules, decisions)
  }

  /** The profile an identifier (before any change of owner) belongs to now, or undefined (unknown, or shared). */
  profileOfNode(key: NodeKey): string | undefined {
    const node = this.nodeOf(key)
    if (node === undefined || this.nodeShared[node] === 1) return undefined
    return this.nodeProfile[node]
  }

  /**
   * Forgets an erased person (consent/erasure.ts) until the graph is loaded again without them: every identifier of
   * the profiles `erasedProfile` names that no one else shares, and each of `keys` in any time slice, keeps its place in its part under a
   * value no sighting has (FORGOTTEN), so no message joins them meanwhile. Returns how many identifiers it forgot.
   */
  forget(erasedProfile: (profileId: string) => boolean, keys: ReadonlyArray<NodeKey>): number {
    // Asked once per profile (it may hash the id).
    const erased = new Map<string, boolean>()
    const isErased = (profile: string) => {
      let e = erased.get(profile)
      if (e === undefined) erased.set(profile, e = erasedProfile(profile))
      return e
    }
    // Values per kind index (a node's value holds its time slice: baseOf cuts it as it cuts a key's).
    const values = new Map<number, Set<string>>()
    for (const key of keys) {
      const { kind, value } = splitNodeKey(key)
      const k = this.kindIndex.get(kind)
      if (k === undefined) continue
      if (!values.has(k)) values.set(k, new Set())
      values.get(k)!.add(value)
    }
    let forgotten = 0
    for (let n = 0; n < this.nodeCount; n++) {
      const value = this.nodeValue[n]!
      if (value.startsWith(FORGOTTEN)) continue
      const profile = this.nodeProfile[n]
      const own = this.nodeShared[n] === 0 && profile !== undefined && isErased(profile)
      if (!own && values.get(this.nodeKind[n]!)?.has(baseOf(value)) !== true) continue
      this.nodeValue[n] = `${FORGOTTEN}${n}`
      forgotten++
    }
    return forgotten
  }

  /**
   * Resolves a batch. `stored` gives the observations stored before this batch that state any of the given
   * identifiers (read back when a part is resolved again); a graph that has only seen this batch needs none.
   * A message sent again is replaced by its new version where its part is resolved again; a message sent again in a
   * clean part adds what it states (replays of the same message change nothing).
   */
  resolve(batch: ReadonlyArray<Observation>, stored: (needed: Needed) => ReadonlyArray<Observation> = () => []): ResolveResult {
    return runSteps(this.resolveSteps(batch, stored))
  }

  /** `resolve` in steps (identity/slices.ts): a batch can be a tenant's whole history (a rebuild). */
  *resolveSteps(batch: ReadonlyArray<Observation>, stored: (needed: Needed) => ReadonlyArray<Observation> = () => []): Steps<ResolveResult> {
    let needed = yield* this.beginSteps(batch)
    const read: Array<Observation> = []
    while (needed.nodes.length > 0 || needed.messages.length > 0) {
      const more = stored(needed)
      for (const o of more) read.push(o)
      needed = { nodes: yield* this.widenSteps(more), messages: [] }
    }
    return yield* this.finishSteps(read)
  }

  /**
   * First half of `resolve`: applies what can be applied as unions, and returns the identifiers whose stored
   * messages the re-resolution needs (none when nothing needs one); `finish` takes those messages' observations.
   */
  begin(batch: ReadonlyArray<Observation>): Needed {
    return runSteps(this.beginSteps(batch))
  }

  /** `begin` in steps (identity/slices.ts). */
  *beginSteps(batch: ReadonlyArray<Observation>): Steps<Needed> {
    this.dirtyParts = new Set()
    this.pendingNodes = new Set()
    this.deferred = []
    this.changed = []
    this.previous = []
    this.created = []
    this.renamed = new Set()
    this.origins = []
    this.reresolvedNodes = new Set()
    this.batchToken++
    this.messageIndex = new StringIds()
    this.messageIds = []
    this.messageProfile = []
    this.sightingCount = 0
    // A large batch (a whole history at start-up) does not keep its scratch arrays.
    if (this.messageTime.length > 65_536) {
      this.messageTime = new Float64Array(1024)
      this.messageStart = new Int32Array(1024)
      this.messageLength = new Uint16Array(1024)
      this.messageBatch = new Int32Array(1024)
    }
    if (this.sightingNode.length > 262_144) {
      this.sightingNode = new Int32Array(4096)
      this.sightingTrust = new Uint8Array(4096)
    }
    this.outNodes = new Map()
    this.outLinks = []
    this.outRefused = []
    this.outWithdrawn = []
    this.outShared = new Map()
    const inBatch: Array<number> = []
    this.inBatch = inBatch
    const resent: Array<string> = []
    let step = 0
    for (const o of batch) {
      if (pauseAt(step++)) yield
      const known = this.messageIndex.getOrAdd(o.messageId, this.messageIds, this.messageIds.length)
      if (known < this.messageIds.length) {
        // Sent twice in this batch: the later version replaces the earlier.
        inBatch.push(known)
        if (this.sameAsStored(known, o)) continue
        // Replaced: the parts of what it stated before are resolved again, with what it states now.
        this.touch(known)
        this.storeSightings(known, o)
        this.defer(known)
        continue
      }
      const m = this.addMessage(o)
      inBatch.push(m)
      const prior = this.recent.get(hashOf(o.messageId))
      if (prior !== undefined && prior !== this.digestOf(m)) {
        // Sent again with other identifiers: its stored version is read back, and the parts it touches resolved again.
        resent.push(o.messageId)
        this.defer(m)
        continue
      }
      if (this.union(m, o)) this.stats.unions++
      else this.defer(m)
    }
    if (this.deferred.length === 0) return NOTHING
    // Only identifiers seen before this batch can have stored messages.
    const needed: Array<NodeKey> = []
    for (const p of this.dirtyParts) {
      for (const node of this.parts.get(p)!.nodes) if (this.nodeBatch[node] !== this.batchToken) needed.push(this.keyOf(node))
      if (pauseAt(step++)) yield
    }
    for (const node of this.pendingNodes) {
      if (this.nodeBatch[node] !== this.batchToken) needed.push(this.keyOf(node))
      if (pauseAt(step++)) yield
    }
    return { nodes: needed, messages: resent }
  }

  /**
   * A digest of a batch message's time and sightings (node ids are stable in the process and in its snapshot). Every
   * word is mixed in as a non-zero value from a non-zero seed, so no sighting is absorbed: node 0 stated verified at
   * time 0 once hashed like no sighting at all, and a message sent again without it passed for a replay.
   */
  private digestOf(m: number): number {
    const time = this.messageTime[m]!
    const start = this.messageStart[m]!
    const length = this.messageLength[m]!
    let h = 0x811c9dc5 ^ length
    const mix = (word: number): void => {
      h = Math.imul(h ^ word, 0x85ebca6b)
      h ^= h >>> 13
    }
    mix(time | 0)
    mix(Math.floor(time / 4294967296) ^ 0x5bd1e995)
    for (let i = start; i < start + length; i++) mix((this.sightingNode[i]! * 4 + this.sightingTrust[i]! + 1) | 0)
    h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35)
    return (h ^ (h >>> 16)) | 0
  }

  private *remember(inBatch: ReadonlyArray<number>): Steps<void> {
    let step = 0
    for (const m of inBatch) {
      if (pauseAt(step++)) yield
      const id = hashOf(this.messageIds[m]!)
      this.recent.delete(id)
      this.recent.set(id, this.digestOf(m))
    }
    for (const id of this.recent.keys()) {
      if (this.recent.size <= RECENT_MESSAGES) break
      this.recent.delete(id)
    }
  }

  private inBatch: Array<number> = []

  /** Second half of `resolve`, with the stored observations of the identifiers `begin` returned. */
  finish(stored: ReadonlyArray<Observation>): ResolveResult {
    return runSteps(this.finishSteps(stored))
  }

  /** `finish` in steps (identity/slices.ts). */
  *finishSteps(stored: ReadonlyArray<Observation>): Steps<ResolveResult> {
    const inBatch = this.inBatch
    if (this.deferred.length > 0) yield* this.reresolve(stored)
    const ids = new Array<string>(inBatch.length)
    const given = new Array<string>(inBatch.length)
    for (let i = 0; i < inBatch.length; i++) {
      ids[i] = this.messageIds[inBatch[i]!]!
      given[i] = this.messageProfile[inBatch[i]!]!
      if (pauseAt(i)) yield
    }
    const profiles = new BatchProfiles(ids, given)
    const moved: Array<ProfileChange> = []
    for (let j = 0; j < this.changed.length; j++) {
      const m = this.changed[j]!
      const previous = this.previous[j]
      const profile = this.messageProfile[m]!
      if (previous !== undefined && previous !== profile) moved.push({ messageId: this.messageIds[m]!, profileId: profile, previous })
      if (pauseAt(j)) yield
    }
    yield* this.remember(inBatch)
    const partMoves = this.partMoves()
    const merges = this.groupMoves(moved)
    for (const m of partMoves) this.addProfile(m.toProfile)
    for (let i = 0; i < this.created.length; i++) {
      this.addProfile(this.created[i]!)
      if (pauseAt(i)) yield
    }
    return { profiles, moved, merges, partMoves, nodes: this.outNodes, shared: this.outShared, links: this.outLinks, refused: this.outRefused, withdrawn: this.outWithdrawn }
  }

  /** Where the clean parts whose profile changed went, unless their part was resolved again (its messages were read). */
  private partMoves(): Array<PartMove> {
    const out: Array<PartMove> = []
    for (const o of this.origins) {
      if (this.reresolvedNodes.has(o.nodes[0]!)) continue
      const to = this.parts.get(this.nodePart[o.nodes[0]!]!)!.profile
      if (to === o.from) continue
      const kind = this.profileIndex.get(to, this.profileIds) !== -1 || this.renamed.has(to) ? "merge" : "split"
      out.push({ nodes: o.nodes.map((n) => this.keyOf(n)), fromProfile: o.from, toProfile: to, kind })
    }
    return out
  }

  private groupMoves(moved: ReadonlyArray<ProfileChange>): Array<ProfileMerge> {
    const groups = new Map<string, ProfileMerge>()
    for (const m of moved) {
      const key = `${m.previous}\n${m.profileId}`
      const g = groups.get(key)
      groups.set(key, g === undefined
        ? { fromProfile: m.previous!, toProfile: m.profileId, kind: this.profileIndex.get(m.profileId, this.profileIds) !== -1 || this.renamed.has(m.profileId) ? "merge" : "split", messages: 1 }
        : { ...g, messages: g.messages + 1 })
    }
    for (const m of moved) this.addProfile(m.profileId)
    return [...groups.values()]
  }

  /** A graph in the state `toState` gave (with the rules and operators' decisions it was made with). */
  static fromState(state: GraphState, rules: GraphRules = DEFAULT_GRAPH_RULES, decisions: OperatorDecisions = NO_DECISIONS): TenantGraph {
    return runSteps(TenantGraph.fromStateSteps(state, rules, decisions))
  }

  /** `fromState` in steps (identity/slices.ts). */
  static *fromStateSteps(state: GraphState, rules: GraphRules = DEFAULT_GRAPH_RULES, decisions: OperatorDecisions = NO_DECISIONS): Steps<TenantGraph> {
    const g = new TenantGraph(state.tenant, rules, decisions)
    yield* g.loadStateSteps(state)
    return g
  }
}

/** Every tenant's graph; nothing ever links across tenants. */
export class IdentityResolver {
  private readonly graphs = new Map<string, TenantGraph>()

  private readonly rules: GraphRules
  private readonly decisions: Map<string, OperatorDecisions>

  constructor(rules: GraphRules = DEFAULT_GRAPH_RULES, decisions: ReadonlyMap<string, OperatorDecisions> = new Map()) {
    this.rules = rules
    this.decisions = new Map(decisions)
  }

  graph(tenant: string): TenantGraph {
    let g = this.graphs.get(tenant)
    if (g === undefined) this.graphs.set(tenant, g = new TenantGraph(tenant, this.rules, this.decisions.get(tenant)))
    return g
  }

  /** Every tenant's graph as plain data (a snapshot), in steps (identity/slices.ts). */
  *toStatesSteps(): Steps<Array<GraphState>> {
    const states: Array<GraphState> = []
    for (const g of this.graphs.values()) states.push(yield* g.toStateSteps())
    return states
  }

  /**
   * Puts in a tenant's graph loaded apart (a reload of that tenant alone, after its operator's decision) with the
   * decisions it was made with; the other tenants' graphs stay as they are.
   */
  adopt(tenant: string, graph: TenantGraph, decisions: OperatorDecisions | undefined): void {
    this.graphs.set(tenant, graph)
    if (decisions === undefined) this.decisions.delete(tenant)
    else this.decisions.set(tenant, decisions)
  }

  /** Puts a tenant's graph back as a snapshot stored it. */
  restore(state: GraphState): TenantGraph {
    return runSteps(this.restoreSteps(state))
  }

  /** `restore` in steps (identity/slices.ts). */
  *restoreSteps(state: GraphState): Steps<TenantGraph> {
    const g = yield* TenantGraph.fromStateSteps(state, this.rules, this.decisions.get(state.tenant))
    this.graphs.set(state.tenant, g)
    return g
  }
}
