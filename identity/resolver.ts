// The online resolver: the identity graph of each tenant kept in memory and brought up to date message by message.
// The result is always the one a full resolution of every observation (graph.ts resolveGraph) would give, whatever
// the arrival order. The graph is split into parts that share no identifier. A part is "clean" when it is one
// profile in which every link holds (no limit reached, no shared value, no time slice, no operator decision near it):
// a new message whose identifiers are new or lie in clean parts, and that keeps the union clean, is applied as a
// union in O(identifiers) (see `union` for why that is exactly what the full resolution decides). Any other message
// is deferred to the end of its batch, where the parts it touches are resolved again together with it (resolveGraph).
// Identifiers are interned into typed arrays (a node id per identifier; the indexes by value are open-addressing
// tables, not Maps), so the graph stays compact. The graph keeps identifiers and parts only, never messages: its size
// follows people, not messages, so a start from a snapshot costs the same with 1M or 10M messages stored. A batch's
// messages are held while it is resolved; messages stored before it are read back (by identifier, `begin`/`finish`)
// only when a part they belong to is resolved again, and a clean part that moves whole to another profile is
// reported as a part move, whose stored messages the caller looks up by the part's identifiers.
import {
  baseOf, DEFAULT_GRAPH_RULES, type GraphRules, type Link, nodeKey, type NodeKey, type Observation,
  OPERATOR, profileIdFor, type RefusedLink, resolveGraph, type Sighting, type Trust,
} from "./graph.ts"

export interface ProfileChange {
  readonly messageId: string
  readonly profileId: string
  /** The profile the message had before, or undefined for a new message. */
  readonly previous: string | undefined
}

/** What operators decided for a tenant (identity_operations): identifiers removed from linking, pairs kept apart. */
export interface OperatorDecisions {
  readonly removed: ReadonlyMap<NodeKey, string>
  readonly separate: ReadonlyArray<readonly [NodeKey, NodeKey]>
}

export const NO_DECISIONS: OperatorDecisions = { removed: new Map(), separate: [] }

export interface ProfileMerge {
  readonly fromProfile: string
  readonly toProfile: string
  /** "merge": into a profile that existed, or one a joining message older than both named; "split": into a new one. */
  readonly kind: "merge" | "split"
  readonly messages: number
}

/**
 * A clean part of the graph that moved whole to another profile: every message stored before this batch that states
 * one of `nodes` moved from `fromProfile` to `toProfile` (the graph does not hold them; the caller looks them up).
 */
export interface PartMove {
  readonly nodes: ReadonlyArray<NodeKey>
  readonly fromProfile: string
  readonly toProfile: string
  readonly kind: "merge" | "split"
}

/** What a re-resolution needs read back: stored observations stating these identifiers, and of these messages. */
export interface Needed {
  readonly nodes: ReadonlyArray<NodeKey>
  /** Messages sent again with other identifiers than recently: their stored version is replaced. */
  readonly messages: ReadonlyArray<string>
}

const NOTHING: Needed = { nodes: [], messages: [] }

/**
 * How many recently resolved messages each tenant's graph remembers (a digest of their time and identifiers), to tell
 * a message sent again with other identifiers from a replay. An older message sent again with other identifiers adds
 * what it states now where its part is clean (the graph cannot withdraw what it stated before without reading it).
 */
export const RECENT_MESSAGES = 100_000

export interface ResolveResult {
  /** Profile of each message of the batch. */
  readonly profiles: ReadonlyMap<string, string>
  /** Messages of this batch, or stored ones read back for a re-resolution, whose profile changed. */
  readonly moved: ReadonlyArray<ProfileChange>
  /** Moves of those messages between profiles, grouped. */
  readonly merges: ReadonlyArray<ProfileMerge>
  /** Stored messages that moved with their whole part (not in `moved` nor `merges`). */
  readonly partMoves: ReadonlyArray<PartMove>
  /** Profile of every identifier (node) that is new or whose profile may have changed, and the shared values among them. */
  readonly nodes: ReadonlyMap<NodeKey, string>
  readonly shared: ReadonlyMap<NodeKey, string>
  /** Links that hold, made by this batch's messages or by the re-resolution of the parts they touched (provenance). */
  readonly links: ReadonlyArray<Link>
  /** Links refused, with their reason. */
  readonly refused: ReadonlyArray<RefusedLink>
}

const TRUSTS: ReadonlyArray<Trust> = ["verified", "stated", "unverified"]
const TRUST_CODE: Readonly<Record<Trust, number>> = { verified: 0, stated: 1, unverified: 2 }
const UNVERIFIED = 2
/** Trust of a node not seen yet. */
const UNSEEN = 3
const NONE = -1

type Typed = Int32Array | Uint8Array | Uint16Array | Float64Array

const grow = <T extends Typed>(a: T, need: number): T => {
  if (need <= a.length) return a
  const b = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2))
  b.set(a)
  return b
}

/**
 * FNV-1a over the string's code units two at a time (half the multiplications), then murmur3's finaliser so that
 * similar strings spread over the table.
 */
const hashOf = (s: string): number => {
  let h = 0x811c9dc5 ^ s.length
  const even = s.length & ~1
  for (let i = 0; i < even; i += 2) h = Math.imul(h ^ (s.charCodeAt(i) | s.charCodeAt(i + 1) << 16), 0x01000193)
  if (even !== s.length) h = Math.imul(h ^ s.charCodeAt(even), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/**
 * Dense ids of strings (an id indexes `keys`, an array its owner keeps): an open-addressing table of (hash, id) in two
 * typed arrays. Looking a string up, and adding it when absent, is one probe sequence that reads a stored string only
 * when its hash matches; an entry costs 16-32 bytes and no object (a Map entry costs more, and chains through the heap).
 */
class StringIds {
  private ids = new Int32Array(1024)
  private hashes = new Int32Array(1024)
  size = 0

  /** The id of `key`, or -1 when absent. */
  get(key: string, keys: ReadonlyArray<string>): number {
    const h = hashOf(key)
    const mask = this.ids.length - 1
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const id = this.ids[i]! - 1
      if (id === -1) return -1
      if (this.hashes[i] === h && keys[id] === key) return id
    }
  }

  /** The id of `key`; when absent, `next` becomes its id (the caller then appends `key` to `keys`). */
  getOrAdd(key: string, keys: ReadonlyArray<string>, next: number): number {
    const h = hashOf(key)
    const mask = this.ids.length - 1
    let i = h & mask
    for (; ; i = (i + 1) & mask) {
      const id = this.ids[i]! - 1
      if (id === -1) break
      if (this.hashes[i] === h && keys[id] === key) return id
    }
    this.ids[i] = next + 1
    this.hashes[i] = h
    if (++this.size * 2 > this.ids.length) this.resize()
    return next
  }

  private resize(): void {
    const ids = this.ids
    const hashes = this.hashes
    this.ids = new Int32Array(ids.length * 2)
    this.hashes = new Int32Array(ids.length * 2)
    const mask = this.ids.length - 1
    for (let j = 0; j < ids.length; j++) {
      if (ids[j] === 0) continue
      let i = hashes[j]! & mask
      while (this.ids[i] !== 0) i = (i + 1) & mask
      this.ids[i] = ids[j]!
      this.hashes[i] = hashes[j]!
    }
  }
}

/** A connected part of the graph: the identifiers (and the messages stating them) that no other part shares. */
class Part {
  // Arrays made at their size (a first push would reserve 17 slots): most parts stay small.
  readonly nodes: Array<number>
  /** The part's messages of the batch being resolved (batch-local indexes; emptied when another batch touches it). */
  readonly messages: Array<number>
  /** The batch `messages` belong to. */
  batch = 0

  constructor(nodes: Array<number> = [], messages: Array<number> = []) {
    this.nodes = nodes
    this.messages = messages
  }

  clean = true
  /** For a clean part: its one profile, and the identifier that names it (the oldest: time, message id, key). */
  profile = ""
  oldestTimeMs = Infinity
  oldestMessage = ""
  /** The oldest identifier's node (NONE until known). */
  oldestNode = NONE
  /**
   * For a clean part: how many components of its verified and stated links hold a known person (a person kind seen
   * above unverified trust). Links are ranked trust first, so unverified links come last and join these components;
   * one is refused exactly when it would join two known ones: a part stays one profile while this is at most 1.
   */
  knownStrong = 0
}

interface PartState {
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
}

/**
 * Each message of a batch with its profile: read in order without building a map (as the stage reads it); a map is
 * built only when asked for one message (a message sent twice in one batch has one profile, so either reading agrees).
 */
class BatchProfiles implements ReadonlyMap<string, string> {
  private map: Map<string, string> | undefined
  private readonly ids: ReadonlyArray<string>
  private readonly profiles: ReadonlyArray<string>

  constructor(ids: ReadonlyArray<string>, profiles: ReadonlyArray<string>) {
    this.ids = ids
    this.profiles = profiles
  }

  private byId(): Map<string, string> {
    if (this.map === undefined) {
      this.map = new Map()
      for (let i = 0; i < this.ids.length; i++) this.map.set(this.ids[i]!, this.profiles[i]!)
    }
    return this.map
  }

  get size(): number {
    return this.byId().size
  }
  get(id: string): string | undefined {
    return this.byId().get(id)
  }
  has(id: string): boolean {
    return this.byId().has(id)
  }
  forEach(f: (profile: string, id: string, map: ReadonlyMap<string, string>) => void): void {
    for (const [id, profile] of this) f(profile, id, this)
  }
  *entries(): MapIterator<[string, string]> {
    for (let i = 0; i < this.ids.length; i++) yield [this.ids[i]!, this.profiles[i]!]
  }
  *keys(): MapIterator<string> {
    for (const [id] of this) yield id
  }
  *values(): MapIterator<string> {
    for (const [, profile] of this) yield profile
  }
  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries()
  }
}

/** One tenant's graph. */
export class TenantGraph {
  // Kinds, by index.
  private readonly kindIndex = new Map<string, number>()
  private readonly kindNames: Array<string> = []
  private readonly kindLimit: Array<number> = []
  private readonly kindPerson: Array<boolean> = []
  /** Rank of each kind's "kind:" among all kinds' (how node keys of different kinds sort), by kind index. */
  private readonly kindOrder: Array<number> = []
  // Identifiers (nodes), by id: value per kind, best trust seen, part, shared, and the union-find of verified/stated links.
  private readonly byKind: Array<StringIds> = []
  private nodeValue: Array<string> = []
  /** The profile of each identifier (of its first time slice, for a value that changed owner). */
  private nodeProfile: Array<string | undefined> = []
  private nodeKind = new Uint8Array(1024)
  private nodeTrust = new Uint8Array(1024)
  private nodePart = new Int32Array(1024)
  private nodeShared = new Uint8Array(1024)
  private strong = new Int32Array(1024)
  private strongKnown = new Uint8Array(1024)
  /** The batch each node was first seen in: a node first seen in the batch being resolved has no stored messages. */
  private nodeBatch = new Int32Array(1024)
  /** The batch in which a node's part move was recorded (each node's stored messages move once per batch). */
  private nodeMoved = new Int32Array(1024)
  private nodeCount = 0
  // The batch's messages (and stored ones read back for a re-resolution), by batch-local index: id, time, sightings
  // (a range of node ids with their trust), current profile. Emptied when the next batch begins.
  private messageIndex = new StringIds()
  private messageIds: Array<string> = []
  private messageTime = new Float64Array(1024)
  private messageStart = new Int32Array(1024)
  private messageLength = new Uint16Array(1024)
  private messageProfile: Array<string> = []
  private sightingNode = new Int32Array(4096)
  private sightingTrust = new Uint8Array(4096)
  private sightingCount = 0
  private readonly parts = new Map<number, Part>()
  private nextPart = 1
  /** Values shared by several people (or removed by an operator): they link nothing, and belong to no part. */
  private readonly shared = new Map<NodeKey, string>()
  private readonly separateKeys: ReadonlySet<NodeKey>
  /** Every profile id given so far, to tell a merge (into a known profile) from a split (into a new one). */
  private readonly profileIds: Array<string> = []
  private readonly profileIndex = new StringIds()
  /** Rank of each kind in the rules' priority (99 for a kind not listed), by kind index. */
  private readonly kindRank: Array<number> = []

  // The batch being resolved.
  private dirtyParts = new Set<number>()
  private pendingNodes = new Set<number>()
  private deferred: Array<number> = []
  /** Messages whose profile this batch gave or changed, with the profile each had before it. */
  private changed: Array<number> = []
  /** Profile ids this batch named (known after its moves are grouped: a move into one of them is a split). */
  private created: Array<string> = []
  /**
   * Profile ids this batch named for parts it joined, because a message older than all of them arrived (files ingested
   * one after another, a late post): the parts' messages move whole into it, which is a merge, not a split.
   */
  private renamed = new Set<string>()
  private previous: Array<string | undefined> = []
  /** Clean parts whose profile changed in this batch: their nodes (first seen before it) and the profile they had. */
  private origins: Array<{ readonly nodes: Array<number>; readonly from: string }> = []
  /** Nodes of the parts resolved again in this batch (their stored messages are read back and moved one by one). */
  private reresolvedNodes = new Set<number>()
  private messageBatch = new Int32Array(1024)
  private batchToken = 0
  private outNodes = new Map<NodeKey, string>()
  private outLinks: Array<Link> = []
  private outRefused: Array<RefusedLink> = []
  private outShared = new Map<NodeKey, string>()
  private stamp = new Int32Array(1024)
  private stampToken = 0
  private readonly touchedParts: Array<Part> = []
  private readonly touchedIds: Array<number> = []
  private readonly keyScratch: Array<string> = []
  private counts = new Uint16Array(0)

  private readonly tenant: string
  private readonly rules: GraphRules
  private readonly separate: ReadonlyArray<readonly [NodeKey, NodeKey]>

  constructor(tenant: string, rules: GraphRules = DEFAULT_GRAPH_RULES, decisions: OperatorDecisions = NO_DECISIONS) {
    this.tenant = tenant
    this.rules = rules
    // An identifier an operator removed links nobody, exactly like a value shared by several people.
    for (const [key, reason] of decisions.removed) this.shared.set(key, reason)
    this.separate = decisions.separate
    this.separateKeys = new Set(decisions.separate.flat())
  }

  /** Messages applied as a union, and messages resolved again with the parts they touched (where the time goes). */
  readonly stats = { unions: 0, reresolved: 0 }

  /** Identifiers in the graph (its size: it holds no messages). */
  get nodeTotal(): number {
    return this.nodeCount
  }

  /** The profile an identifier (before any change of owner) belongs to now, or undefined (unknown, or shared). */
  profileOfNode(key: NodeKey): string | undefined {
    const node = this.nodeOf(key)
    if (node === undefined || this.nodeShared[node] === 1) return undefined
    return this.nodeProfile[node]
  }

  /**
   * Resolves a batch. `stored` gives the observations stored before this batch that state any of the given
   * identifiers (read back when a part is resolved again); a graph that has only seen this batch needs none.
   * A message sent again is replaced by its new version where its part is resolved again; a message sent again in a
   * clean part adds what it states (replays of the same message change nothing).
   */
  resolve(batch: ReadonlyArray<Observation>, stored: (needed: Needed) => ReadonlyArray<Observation> = () => []): ResolveResult {
    let needed = this.begin(batch)
    const read: Array<Observation> = []
    while (needed.nodes.length > 0 || needed.messages.length > 0) {
      const more = stored(needed)
      for (const o of more) read.push(o)
      needed = { nodes: this.widen(more), messages: [] }
    }
    return this.finish(read)
  }

  /**
   * First half of `resolve`: applies what can be applied as unions, and returns the identifiers whose stored
   * messages the re-resolution needs (none when nothing needs one); `finish` takes those messages' observations.
   */
  begin(batch: ReadonlyArray<Observation>): Needed {
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
    this.outShared = new Map()
    const inBatch: Array<number> = []
    this.inBatch = inBatch
    const resent: Array<string> = []
    for (const o of batch) {
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
      const prior = this.recent.get(o.messageId)
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
    for (const p of this.dirtyParts) for (const node of this.parts.get(p)!.nodes) if (this.nodeBatch[node] !== this.batchToken) needed.push(this.keyOf(node))
    for (const node of this.pendingNodes) if (this.nodeBatch[node] !== this.batchToken) needed.push(this.keyOf(node))
    return { nodes: needed, messages: resent }
  }

  /** Recently resolved messages: id -> digest (insertion order is age: the oldest is forgotten first). */
  private readonly recent = new Map<string, number>()

  /** A digest of a batch message's time and sightings (node ids are stable within the process). */
  private digestOf(m: number): number {
    const time = this.messageTime[m]!
    let h = Math.imul((time | 0) ^ Math.floor(time / 4294967296), 0x9e3779b1)
    const start = this.messageStart[m]!
    for (let i = start; i < start + this.messageLength[m]!; i++) {
      h = Math.imul(h ^ this.sightingNode[i]!, 0x85ebca6b) ^ this.sightingTrust[i]!
      h ^= h >>> 13
    }
    return h | 0
  }

  private remember(inBatch: ReadonlyArray<number>): void {
    for (const m of inBatch) {
      const id = this.messageIds[m]!
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
    const inBatch = this.inBatch
    if (this.deferred.length > 0) this.reresolve(stored)
    const ids = new Array<string>(inBatch.length)
    const given = new Array<string>(inBatch.length)
    for (let i = 0; i < inBatch.length; i++) {
      ids[i] = this.messageIds[inBatch[i]!]!
      given[i] = this.messageProfile[inBatch[i]!]!
    }
    const profiles = new BatchProfiles(ids, given)
    const moved: Array<ProfileChange> = []
    for (let j = 0; j < this.changed.length; j++) {
      const m = this.changed[j]!
      const previous = this.previous[j]
      const profile = this.messageProfile[m]!
      if (previous !== undefined && previous !== profile) moved.push({ messageId: this.messageIds[m]!, profileId: profile, previous })
    }
    this.remember(inBatch)
    const partMoves = this.partMoves()
    const merges = this.groupMoves(moved)
    for (const m of partMoves) this.addProfile(m.toProfile)
    for (const p of this.created) this.addProfile(p)
    return { profiles, moved, merges, partMoves, nodes: this.outNodes, shared: this.outShared, links: this.outLinks, refused: this.outRefused }
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

  /** A part's messages of the batch being resolved. */
  private batchMessages(part: Part): Array<number> {
    if (part.batch !== this.batchToken) {
      part.messages.length = 0
      part.batch = this.batchToken
    }
    return part.messages
  }

  private addProfile(p: string): void {
    if (this.profileIndex.getOrAdd(p, this.profileIds, this.profileIds.length) === this.profileIds.length) this.profileIds.push(p)
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

  /**
   * The graph's state as plain data (strings, numbers, typed arrays): what a snapshot stores (identity/snapshot.ts).
   * Everything else (indexes by value) is rebuilt from it by `fromState`. It holds no messages.
   */
  toState(): GraphState {
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
    for (const [id, p] of this.parts) {
      parts.push({
        id, nodes: Int32Array.from(p.nodes), clean: p.clean, profile: p.clean ? indexOf(p.profile) : -1,
        oldestTimeMs: p.oldestTimeMs, oldestMessage: p.oldestMessage, oldestKey: p.oldestNode === NONE ? "" : this.keyOf(p.oldestNode), counts: p.clean ? this.countsOf(p) : [], knownStrong: p.knownStrong,
      })
    }
    const nodes = this.nodeCount
    return {
      tenant: this.tenant, kindNames: [...this.kindNames], nodeValue: [...this.nodeValue],
      nodeKind: this.nodeKind.slice(0, nodes), nodeTrust: this.nodeTrust.slice(0, nodes), nodePart: this.nodePart.slice(0, nodes),
      nodeShared: this.nodeShared.slice(0, nodes), strong: this.strong.slice(0, nodes), strongKnown: this.strongKnown.slice(0, nodes),
      nodeProfile: Int32Array.from(this.nodeProfile, (p) => (p === undefined ? -1 : indexOf(p))), profileTable, parts, nextPart: this.nextPart, shared: [...this.shared], profiles: this.profileIds.map(indexOf),
    }
  }

  /** A graph in the state `toState` gave (with the rules and operators' decisions it was made with). */
  static fromState(state: GraphState, rules: GraphRules = DEFAULT_GRAPH_RULES, decisions: OperatorDecisions = NO_DECISIONS): TenantGraph {
    const g = new TenantGraph(state.tenant, rules, decisions)
    for (const kind of state.kindNames) g.kindOf(kind)
    const nodes = state.nodeValue.length
    g.nodeValue = [...state.nodeValue]
    g.nodeProfile = Array.from(state.nodeProfile, (i) => (i === -1 ? undefined : state.profileTable[i]!))
    g.nodeCount = nodes
    const cap = Math.max(1024, nodes)
    const sized = <T extends Typed>(empty: T, from: T): T => {
      const a = grow(empty, cap)
      a.set(from)
      return a
    }
    g.nodeKind = sized(new Uint8Array(0), state.nodeKind)
    g.nodeTrust = sized(new Uint8Array(0), state.nodeTrust)
    g.nodePart = sized(new Int32Array(0), state.nodePart)
    g.nodeShared = sized(new Uint8Array(0), state.nodeShared)
    g.strong = sized(new Int32Array(0), state.strong)
    g.strongKnown = sized(new Uint8Array(0), state.strongKnown)
    g.stamp = new Int32Array(cap)
    g.nodeBatch = new Int32Array(cap)
    g.nodeMoved = new Int32Array(cap)
    for (let n = 0; n < nodes; n++) g.byKind[state.nodeKind[n]!]!.getOrAdd(state.nodeValue[n]!, g.nodeValue, n)
    for (const p of state.parts) {
      const part = new Part(Array.from(p.nodes))
      part.clean = p.clean
      part.profile = p.profile === -1 ? "" : state.profileTable[p.profile]!
      part.oldestTimeMs = p.oldestTimeMs
      part.oldestMessage = p.oldestMessage
      part.oldestNode = p.oldestKey === "" ? NONE : g.nodeOf(p.oldestKey) ?? NONE
      part.knownStrong = p.knownStrong
      g.parts.set(p.id, part)
    }
    g.nextPart = state.nextPart
    for (const [key, reason] of state.shared) g.shared.set(key, reason)
    for (const i of state.profiles) g.addProfile(state.profileTable[i]!)
    return g
  }

  /** Each identifier the graph holds (kind and normalised value), to check a snapshot against today's block rules. */
  *identifiers(): Generator<{ readonly kind: string; readonly value: string }> {
    for (let n = 0; n < this.nodeCount; n++) yield { kind: this.kindNames[this.nodeKind[n]!]!, value: this.nodeValue[n]! }
  }

  // ---- interning -------------------------------------------------------------------------------------------------

  private kindOf(kind: string): number {
    // Kinds are few and their strings usually the same constants: a scan by identity beats hashing.
    const names = this.kindNames
    for (let i = 0; i < names.length; i++) if (names[i] === kind) return i
    let k = this.kindIndex.get(kind)
    if (k === undefined) {
      k = this.kindNames.length
      this.kindIndex.set(kind, k)
      this.kindNames.push(kind)
      const rank = this.rules.priority.indexOf(kind as never)
      this.kindRank.push(rank === -1 ? 99 : rank)
      this.kindLimit.push(this.rules.limits[kind as keyof GraphRules["limits"]] ?? this.rules.defaultLimit)
      this.kindPerson.push(this.rules.personKinds.includes(kind as never))
      this.byKind.push(new StringIds())
      const sorted = this.kindNames.map((name) => `${name}:`).sort()
      for (let i = 0; i < this.kindNames.length; i++) this.kindOrder[i] = sorted.indexOf(`${this.kindNames[i]}:`)
    }
    return k
  }

  /**
   * Whether node a's key sorts before node b's ("kind:value" as strings), without building them: keys of two kinds
   * differ first within "kind:" (no kind holds a colon), so the kinds' order decides; NONE sorts after every key.
   */
  private keyBefore(a: number, b: number): boolean {
    if (b === NONE) return false
    const ka = this.nodeKind[a]!
    const kb = this.nodeKind[b]!
    return ka === kb ? this.nodeValue[a]! < this.nodeValue[b]! : this.kindOrder[ka]! < this.kindOrder[kb]!
  }

  private countsOf(part: Part): Array<number> {
    const counts = this.kindNames.map(() => 0)
    for (const node of part.nodes) counts[this.nodeKind[node]!]! += 1
    return counts
  }

  private keyOf(node: number): NodeKey {
    return `${this.kindNames[this.nodeKind[node]!]}:${this.nodeValue[node]}`
  }

  private nodeOf(key: NodeKey): number | undefined {
    const colon = key.indexOf(":")
    const k = this.kindIndex.get(key.slice(0, colon))
    if (k === undefined) return undefined
    const node = this.byKind[k]!.get(key.slice(colon + 1), this.nodeValue)
    return node === -1 ? undefined : node
  }

  private intern(s: Sighting): number {
    const k = this.kindOf(s.kind)
    const n = this.byKind[k]!.getOrAdd(s.value, this.nodeValue, this.nodeCount)
    if (n < this.nodeCount) return n
    this.nodeCount++
    if (n >= this.nodeKind.length) {
      this.nodeKind = grow(this.nodeKind, n + 1)
      this.nodeTrust = grow(this.nodeTrust, n + 1)
      this.nodePart = grow(this.nodePart, n + 1)
      this.nodeShared = grow(this.nodeShared, n + 1)
      this.strong = grow(this.strong, n + 1)
      this.strongKnown = grow(this.strongKnown, n + 1)
      this.stamp = grow(this.stamp, n + 1)
      this.nodeBatch = grow(this.nodeBatch, n + 1)
      this.nodeMoved = grow(this.nodeMoved, n + 1)
    }
    this.nodeValue.push(s.value)
    this.nodeProfile.push(undefined)
    this.nodeKind[n] = k
    this.nodeTrust[n] = UNSEEN
    this.nodePart[n] = NONE
    this.nodeShared[n] = this.shared.size > 0 && this.shared.has(nodeKey(s.kind, s.value)) ? 1 : 0
    this.strong[n] = n
    this.strongKnown[n] = 0
    this.nodeBatch[n] = this.batchToken
    return n
  }

  private addMessage(o: Observation): number {
    const m = this.messageIds.length
    if (m >= this.messageTime.length) {
      this.messageTime = grow(this.messageTime, m + 1)
      this.messageStart = grow(this.messageStart, m + 1)
      this.messageLength = grow(this.messageLength, m + 1)
      this.messageBatch = grow(this.messageBatch, m + 1)
    }
    // Its id is in messageIndex already (resolve looked it up and added it).
    this.messageIds.push(o.messageId)
    this.messageProfile.push(undefined as unknown as string)
    this.storeSightings(m, o)
    return m
  }

  private storeSightings(m: number, o: Observation): void {
    const n = o.sightings.length
    const start = this.sightingCount
    this.sightingNode = grow(this.sightingNode, start + n)
    this.sightingTrust = grow(this.sightingTrust, start + n)
    for (let i = 0; i < n; i++) {
      const s = o.sightings[i]!
      this.sightingNode[start + i] = this.intern(s)
      this.sightingTrust[start + i] = TRUST_CODE[s.trust]
    }
    this.sightingCount += n
    this.messageTime[m] = o.timeMs
    this.messageStart[m] = start
    this.messageLength[m] = n
  }

  private sameAsStored(m: number, o: Observation): boolean {
    const n = o.sightings.length
    if (this.messageTime[m] !== o.timeMs || this.messageLength[m] !== n) return false
    const start = this.messageStart[m]!
    for (let i = 0; i < n; i++) {
      const s = o.sightings[i]!
      const k = this.kindIndex.get(s.kind)
      const node = k === undefined ? -1 : this.byKind[k]!.get(s.value, this.nodeValue)
      if (node !== this.sightingNode[start + i] || TRUST_CODE[s.trust] !== this.sightingTrust[start + i]) return false
    }
    return true
  }

  /** The message as an observation again (for a re-resolution). */
  private observationOf(m: number): Observation {
    const start = this.messageStart[m]!
    const sightings: Array<Sighting> = []
    for (let i = start; i < start + this.messageLength[m]!; i++) {
      const node = this.sightingNode[i]!
      sightings.push({ kind: this.kindNames[this.nodeKind[node]!] as Sighting["kind"], value: this.nodeValue[node]!, trust: TRUSTS[this.sightingTrust[i]!]! })
    }
    return { messageId: this.messageIds[m]!, timeMs: this.messageTime[m]!, sightings }
  }

  /** The profile of a message that belongs to no person (it states nothing linkable). */
  private ownProfile(messageId: string): string {
    const profile = profileIdFor(this.tenant, `message:${messageId}`)
    this.created.push(profile)
    return profile
  }

  /**
   * Which of a stored message's sightings anchors it, exactly as graph.ts anchorChooser picks it: the most trusted,
   * then the strongest kind, then the smallest value.
   */
  private anchorAt(m: number): number {
    const start = this.messageStart[m]!
    const n = this.messageLength[m]!
    let best = 0
    for (let i = 1; i < n; i++) {
      const x = this.sightingNode[start + i]!
      const y = this.sightingNode[start + best]!
      const r = this.sightingTrust[start + i]! - this.sightingTrust[start + best]! || this.kindRank[this.nodeKind[x]!]! - this.kindRank[this.nodeKind[y]!]!
      if (r < 0 || r === 0 && this.nodeValue[x]! < this.nodeValue[y]!) best = i
    }
    return best
  }

  private setProfile(m: number, profile: string): void {
    if (this.messageBatch[m] !== this.batchToken) {
      this.messageBatch[m] = this.batchToken
      this.changed.push(m)
      this.previous.push(this.messageProfile[m])
    }
    this.messageProfile[m] = profile
  }

  // ---- the fast path ---------------------------------------------------------------------------------------------

  private strongFind(n: number): number {
    const parent = this.strong
    let root = n
    while (parent[root] !== root) root = parent[root]!
    while (parent[n] !== root) {
      const next = parent[n]!
      parent[n] = root
      n = next
    }
    return root
  }

  /**
   * Applies a message as a union of the clean parts (and new identifiers) it names, when the full resolution would
   * decide the same: the union holds at most `limit` values of each kind (so no link is refused by a limit, and no
   * value can be seen with more people than a limit allows, so nothing is found shared or cut in time), at most one
   * component of verified/stated links holds a known person (so no unverified link is refused), no identifier is
   * shared, removed or kept apart by an operator, and the message is not an operator's. Then the union is one profile,
   * named by its oldest identifier. Returns false, changing nothing, when any of this is not so.
   */
  private union(m: number, o: Observation): boolean {
    const n = o.sightings.length
    if (n === 0) {
      this.setProfile(m, this.ownProfile(o.messageId))
      return true
    }
    if (o.messageId.startsWith(OPERATOR)) return false
    const start = this.messageStart[m]!
    const token = ++this.stampToken
    let shared = 0
    let fresh = false
    // Scratch arrays, overwritten up to `count` (emptying an array by its length would free its storage every message).
    const touched = this.touchedParts
    const touchedIds = this.touchedIds
    let count = 0
    for (let i = start; i < start + n; i++) {
      const node = this.sightingNode[i]!
      if (this.nodeShared[node] === 1) {
        shared++
        continue
      }
      const p = this.nodePart[node]!
      if (p === NONE) {
        if (this.pendingNodes.has(node)) return false
        fresh = true
        continue
      }
      if (this.dirtyParts.has(p)) return false
      let seen = false
      for (let j = 0; j < count; j++) if (touchedIds[j] === p) seen = true
      if (seen) continue
      const part = this.parts.get(p)!
      if (!part.clean) return false
      touched[count] = part
      touchedIds[count++] = p
    }
    const anchorAt = this.anchorAt(m)
    const anchor = o.sightings[anchorAt]!
    if (shared === n) return this.allShared(m, o, anchor)
    if (shared > 0) return false
    if (this.separateKeys.size > 0) for (const s of o.sightings) if (this.separateKeys.has(nodeKey(s.kind, s.value))) return false
    // Values per kind of the union (a message within one clean part adds none: the part holds no more than the limits).
    const kinds = this.kindNames.length
    const grows = fresh || count > 1
    const counts = this.counts.length === kinds ? this.counts : this.counts = new Uint16Array(kinds)
    let freshNodes = 0
    if (grows) {
      counts.fill(0)
      // A part holds each identifier once: its nodes are its distinct values.
      for (let j = 0; j < count; j++) for (const node of touched[j]!.nodes) counts[this.nodeKind[node]!]! += 1
      for (let i = start; i < start + n; i++) {
        const node = this.sightingNode[i]!
        if (this.nodePart[node] !== NONE || this.stamp[node] === token) continue
        this.stamp[node] = token
        counts[this.nodeKind[node]!]! += 1
        freshNodes++
      }
      for (let k = 0; k < kinds; k++) if (counts[k]! > this.kindLimit[k]!) return false
    }
    // Known components of verified/stated links after the union: the message joins its anchor with each identifier
    // it states above unverified trust (an unverified anchor means every sighting is unverified: it joins nothing).
    let known = 0
    for (let j = 0; j < count; j++) known += touched[j]!.knownStrong
    const anchorTrust = this.sightingTrust[start + anchorAt]!
    if (anchorTrust !== UNVERIFIED) {
      const rootToken = ++this.stampToken
      let joinedKnown = 0
      let anyKnown = false
      for (let i = start; i < start + n; i++) {
        if (this.sightingTrust[i] === UNVERIFIED) continue
        const node = this.sightingNode[i]!
        if (this.kindPerson[this.nodeKind[node]!]) anyKnown = true
        if (this.nodePart[node] === NONE) continue
        const root = this.strongFind(node)
        if (this.stamp[root] === rootToken) continue
        this.stamp[root] = rootToken
        if (this.strongKnown[root] === 1) {
          joinedKnown++
          anyKnown = true
        }
      }
      known += (anyKnown ? 1 : 0) - joinedKnown
    }
    if (known > 1) return false

    // The union holds: apply it. The oldest identifier names the profile.
    let target: Part | undefined
    let targetId = NONE
    for (let j = 0; j < count; j++) {
      if (target === undefined || touched[j]!.nodes.length > target.nodes.length) {
        target = touched[j]!
        targetId = touchedIds[j]!
      }
    }
    let oldestTimeMs = Infinity
    let oldestMessage = ""
    let oldestNode = NONE
    let named: Part | undefined
    for (let j = 0; j < count; j++) {
      const part = touched[j]!
      if (part.oldestTimeMs < oldestTimeMs || part.oldestTimeMs === oldestTimeMs && (part.oldestMessage < oldestMessage || part.oldestMessage === oldestMessage && this.keyBefore(part.oldestNode, oldestNode))) {
        oldestTimeMs = part.oldestTimeMs
        oldestMessage = part.oldestMessage
        oldestNode = part.oldestNode
        named = part
      }
    }
    if (o.timeMs < oldestTimeMs || o.timeMs === oldestTimeMs && o.messageId <= oldestMessage) {
      for (let i = start; i < start + n; i++) {
        const node = this.sightingNode[i]!
        if (o.timeMs < oldestTimeMs || o.messageId < oldestMessage || this.keyBefore(node, oldestNode)) {
          oldestTimeMs = o.timeMs
          oldestMessage = o.messageId
          oldestNode = node
          named = undefined
        }
      }
    }
    // A part whose oldest identifier stays the oldest keeps its profile (a clean part's profile is named by it).
    let profile: string
    if (named !== undefined) profile = named.profile
    else {
      profile = profileIdFor(this.tenant, this.keyOf(oldestNode))
      this.created.push(profile)
      this.renamed.add(profile)
    }
    // A new part (the message names only new identifiers) is filled in place; otherwise nodes join the largest part.
    let filled = NONE
    if (target === undefined) {
      targetId = this.nextPart++
      target = new Part(new Array<number>(freshNodes), [m])
      target.batch = this.batchToken
      filled = 0
      this.parts.set(targetId, target)
    }
    const targetMessages = this.batchMessages(target)
    for (let j = 0; j < count; j++) {
      const part = touched[j]!
      if (part.profile !== profile) {
        for (const x of this.batchMessages(part)) this.setProfile(x, profile)
        // Its messages stored before this batch move too: recorded by identifier (once per node and batch).
        let origin: Array<number> | undefined
        for (const node of part.nodes) {
          this.outNodes.set(this.keyOf(node), profile)
          this.nodeProfile[node] = profile
          if (this.nodeBatch[node] === this.batchToken || this.nodeMoved[node] === this.batchToken) continue
          this.nodeMoved[node] = this.batchToken
          if (origin === undefined) this.origins.push({ nodes: origin = [], from: part.profile })
          origin.push(node)
        }
      }
      if (part === target) continue
      for (const node of part.nodes) {
        this.nodePart[node] = targetId
        target.nodes.push(node)
      }
      for (const x of this.batchMessages(part)) targetMessages.push(x)
    }
    for (let j = 0; j < count; j++) if (touched[j] !== target) this.parts.delete(touchedIds[j]!)
    // Each sighting's key, built once for both what it outputs: its node's profile (a new node) and its link.
    const keys = this.keyScratch
    for (let i = 0; i < n; i++) keys[i] = n > 1 || this.nodePart[this.sightingNode[start + i]!] === NONE ? nodeKey(o.sightings[i]!.kind, o.sightings[i]!.value) : ""
    for (let i = start; i < start + n; i++) {
      const node = this.sightingNode[i]!
      const trust = this.sightingTrust[i]!
      if (this.nodePart[node] === NONE) {
        this.nodePart[node] = targetId
        if (filled === NONE) target.nodes.push(node)
        else target.nodes[filled++] = node
        this.outNodes.set(keys[i - start]!, profile)
        this.nodeProfile[node] = profile
      }
      if (trust < this.nodeTrust[node]!) {
        this.nodeTrust[node] = trust
        if (trust !== UNVERIFIED && this.kindPerson[this.nodeKind[node]!]) this.strongKnown[this.strongFind(node)] = 1
      }
    }
    if (anchorTrust !== UNVERIFIED) {
      const anchorNode = this.sightingNode[start + anchorAt]!
      let root = this.strongFind(anchorNode)
      for (let i = start; i < start + n; i++) {
        if (this.sightingTrust[i] === UNVERIFIED) continue
        const other = this.strongFind(this.sightingNode[i]!)
        if (other === root) continue
        this.strong[other] = root
        if (this.strongKnown[other] === 1) this.strongKnown[root] = 1
        root = this.strongFind(root)
      }
    }
    target.knownStrong = known
    target.profile = profile
    target.oldestTimeMs = oldestTimeMs
    target.oldestMessage = oldestMessage
    target.oldestNode = oldestNode
    if (filled === NONE) targetMessages.push(m)
    this.setProfile(m, profile)
    // Provenance: the links this message made, as resolveGraph would record them.
    if (n > 1) {
      const anchorNode = this.sightingNode[start + anchorAt]!
      const anchorKey = keys[anchorAt]!
      for (let i = 0; i < n; i++) {
        if (this.sightingNode[start + i] === anchorNode) continue
        const s = o.sightings[i]!
        this.outLinks.push({
          a: anchorKey, b: keys[i]!, messageId: o.messageId, timeMs: o.timeMs, rule: "same message",
          trust: TRUSTS[Math.max(anchorTrust, TRUST_CODE[s.trust])]!,
        })
      }
    }
    return true
  }

  /** A message that states only shared values belongs to no person: a profile of its own, every link refused. */
  private allShared(m: number, o: Observation, anchor: Sighting): boolean {
    const anchorKey = nodeKey(anchor.kind, anchor.value)
    for (const s of o.sightings) {
      const key = nodeKey(s.kind, s.value)
      if (key === anchorKey) continue
      this.outRefused.push({
        a: anchorKey, b: key, messageId: o.messageId, timeMs: o.timeMs, rule: "same message",
        trust: TRUSTS[Math.max(TRUST_CODE[anchor.trust], TRUST_CODE[s.trust])]!, reason: this.shared.get(anchorKey)!,
      })
    }
    this.setProfile(m, this.ownProfile(o.messageId))
    return true
  }

  // ---- the full re-resolution ------------------------------------------------------------------------------------

  /** Marks the parts of what a message states for re-resolution at the end of the batch. */
  private touch(m: number): void {
    const start = this.messageStart[m]!
    for (let i = start; i < start + this.messageLength[m]!; i++) {
      const node = this.sightingNode[i]!
      const p = this.nodePart[node]!
      if (p !== NONE) this.dirtyParts.add(p)
      else if (this.nodeShared[node] === 0) this.pendingNodes.add(node)
    }
  }

  private defer(m: number): void {
    this.deferred.push(m)
    this.touch(m)
  }

  /** Resolves the touched parts with the deferred messages (resolveGraph), and splits the result into parts again. */
  private reresolve(stored: ReadonlyArray<Observation>): void {
    const gathered: Array<number> = []
    const token = ++this.stampToken
    const seen = new Set<number>()
    for (const p of this.dirtyParts) {
      const part = this.parts.get(p)!
      for (const x of this.batchMessages(part)) if (!seen.has(x)) { seen.add(x); gathered.push(x) }
      // Reset as if never seen: a node no message states any more (a replaced message) must not keep old state.
      for (const node of part.nodes) {
        this.nodePart[node] = NONE
        this.nodeTrust[node] = UNSEEN
        this.strong[node] = node
        this.strongKnown[node] = 0
        this.reresolvedNodes.add(node)
      }
      this.parts.delete(p)
    }
    for (const x of this.deferred) if (!seen.has(x)) { seen.add(x); gathered.push(x) }
    for (const x of this.readBack(stored)) if (!seen.has(x)) { seen.add(x); gathered.push(x) }
    const observations = gathered.map((x) => this.observationOf(x))
    this.stats.reresolved += observations.length
    const r = resolveGraph(this.tenant, observations, this.rules, this.shared, this.separate)
    for (const [key, reason] of r.shared) {
      this.outShared.set(key, reason)
      if (this.shared.has(key)) continue
      this.shared.set(key, reason)
      const node = this.nodeOf(key)
      if (node !== undefined) this.nodeShared[node] = 1
    }
    gathered.forEach((x, i) => {
      const anchor = r.anchorOf.get(observations[i]!.messageId)
      // A message that states nothing linkable (every identifier refused or blocked) is a profile of its own.
      const profile = anchor === undefined ? profileIdFor(this.tenant, `message:${this.messageIds[x]}`) : r.profileOf.get(anchor)!
      this.setProfile(x, profile)
      this.created.push(profile)
    })
    if (r.refused.length === 0) for (const l of r.links) this.outLinks.push(l)
    else {
      const refusedKeys = new Set<string>()
      for (const l of r.refused) refusedKeys.add(`${l.a}\n${l.b}\n${l.messageId}`)
      for (const l of r.links) if (!refusedKeys.has(`${l.a}\n${l.b}\n${l.messageId}`)) this.outLinks.push(l)
    }
    for (const l of r.refused) this.outRefused.push(l)
    for (const [key, profile] of r.profileOf) {
      if (key.startsWith("message:")) continue
      this.outNodes.set(key, profile)
      if (key === baseOf(key)) {
        const node = this.nodeOf(key)
        if (node !== undefined) this.nodeProfile[node] = profile
      }
    }
    this.storeParts(gathered, observations, r.refused, r.profileOf, token)
  }

  /**
   * Takes the stored messages of the parts resolved again into the batch, each with the profile it had before this
   * batch: the resolution of those stored messages alone (the graph is a function of the observations, and parts
   * share no identifier, so this is the profile each was last given). A message of this batch that was stored
   * before replaces its stored version, and had that version's profile.
   */
  private readBack(stored: ReadonlyArray<Observation>): Array<number> {
    const present = [...new Map(stored.filter((o) => o.sightings.length > 0).map((o) => [o.messageId, o])).values()]
    if (present.length === 0) return []
    const before = resolveGraph(this.tenant, present, this.rules, this.shared, this.separate)
    const changedAt = new Map<number, number>()
    this.changed.forEach((m, j) => changedAt.set(m, j))
    const added: Array<number> = []
    for (const o of present) {
      const anchor = before.anchorOf.get(o.messageId)
      const was = anchor === undefined ? profileIdFor(this.tenant, `message:${o.messageId}`) : before.profileOf.get(anchor)!
      const known = this.messageIndex.getOrAdd(o.messageId, this.messageIds, this.messageIds.length)
      if (known < this.messageIds.length) {
        const j = changedAt.get(known)
        if (j === undefined) this.messageProfile[known] = was
        else if (this.previous[j] === undefined) this.previous[j] = was
        continue
      }
      const m = this.addMessage(o)
      this.messageProfile[m] = was
      added.push(m)
    }
    return added
  }

  /**
   * Parts outside the ones being resolved again that stored messages also state (another pipeline member linked
   * them, and this graph has not read that yet): they are resolved again too. Returns the identifiers (seen before
   * this batch) whose stored messages are needed as well; none when the stored messages stay within the parts.
   */
  widen(stored: ReadonlyArray<Observation>): ReadonlyArray<NodeKey> {
    const needed: Array<NodeKey> = []
    for (const o of stored) {
      for (const s of o.sightings) {
        const node = this.nodeOf(nodeKey(s.kind, s.value))
        if (node === undefined || this.nodeShared[node] === 1) continue
        const p = this.nodePart[node]!
        if (p === NONE || this.dirtyParts.has(p)) continue
        this.dirtyParts.add(p)
        for (const n of this.parts.get(p)!.nodes) if (this.nodeBatch[n] !== this.batchToken) needed.push(this.keyOf(n))
      }
    }
    return needed
  }

  /**
   * Splits re-resolved messages into parts that share no identifier, ignoring shared values (they link nothing, so
   * they must not glue parts together and make every batch re-resolve them all), and works out which parts are clean.
   */
  private storeParts(
    gathered: ReadonlyArray<number>, observations: ReadonlyArray<Observation>, refused: ReadonlyArray<RefusedLink>,
    profileOf: ReadonlyMap<NodeKey, string>, token: number,
  ): void {
    const parent = new Map<number, number>()
    const find = (n: number): number => {
      let root = n
      while (parent.get(root)! !== root) root = parent.get(root)!
      while (n !== root) {
        const next = parent.get(n)!
        parent.set(n, root)
        n = next
      }
      return root
    }
    const nodes: Array<number> = []
    for (const x of gathered) {
      let first = NONE
      const start = this.messageStart[x]!
      for (let i = start; i < start + this.messageLength[x]!; i++) {
        const node = this.sightingNode[i]!
        if (this.nodeShared[node] === 1) continue
        if (this.stamp[node] !== token) {
          this.stamp[node] = token
          parent.set(node, node)
          nodes.push(node)
          this.nodeTrust[node] = UNSEEN
        }
        const trust = this.sightingTrust[i]!
        if (trust < this.nodeTrust[node]!) this.nodeTrust[node] = trust
        if (first === NONE) first = node
        else {
          const a = find(first)
          const b = find(node)
          if (a !== b) parent.set(a, b)
        }
      }
    }
    const partOfRoot = new Map<number, number>()
    const made: Array<number> = []
    for (const node of nodes) {
      const root = find(node)
      let id = partOfRoot.get(root)
      if (id === undefined) {
        id = this.nextPart++
        partOfRoot.set(root, id)
        made.push(id)
        const part = new Part()
        part.batch = this.batchToken
        this.parts.set(id, part)
      }
      this.nodePart[node] = id
      this.parts.get(id)!.nodes.push(node)
      if (this.separateKeys.has(this.keyOf(node))) this.parts.get(id)!.clean = false
    }
    const partOfKey = (key: NodeKey): Part | undefined => {
      if (key.startsWith("message:")) return undefined
      const node = this.nodeOf(baseOf(key))
      return node === undefined || this.nodePart[node] === NONE ? undefined : this.parts.get(this.nodePart[node]!)
    }
    gathered.forEach((x, i) => {
      const start = this.messageStart[x]!
      for (let j = start; j < start + this.messageLength[x]!; j++) {
        const node = this.sightingNode[j]!
        if (this.nodeShared[node] === 1) continue
        const part = this.parts.get(this.nodePart[node]!)!
        part.messages.push(x)
        if (observations[i]!.messageId.startsWith(OPERATOR)) part.clean = false
        return
      }
    })
    for (const l of refused) {
      const a = partOfKey(l.a)
      if (a !== undefined) a.clean = false
      const b = partOfKey(l.b)
      if (b !== undefined) b.clean = false
    }
    for (const key of profileOf.keys()) if (key !== baseOf(key)) {
      const part = partOfKey(key)
      if (part !== undefined) part.clean = false
    }
    for (const id of made) {
      const part = this.parts.get(id)!
      if (part.clean) this.describeClean(part, profileOf)
    }
  }

  /** A clean part's profile, oldest identifier and known components, from its messages. */
  private describeClean(part: Part, profileOf: ReadonlyMap<NodeKey, string>): void {
    part.profile = profileOf.get(this.keyOf(part.nodes[0]!))!
    for (const node of part.nodes) {
      const k = this.nodeKind[node]!
      this.strong[node] = node
      this.strongKnown[node] = this.kindPerson[k] && this.nodeTrust[node]! !== UNVERIFIED ? 1 : 0
    }
    for (const x of part.messages) {
      const start = this.messageStart[x]!
      const end = start + this.messageLength[x]!
      const time = this.messageTime[x]!
      const id = this.messageIds[x]!
      // The anchor is the most trusted sighting first (anchorChooser); ties between kinds do not matter here, only
      // whether it is above unverified, which is so when any sighting is.
      let best = UNVERIFIED
      for (let i = start; i < end; i++) best = Math.min(best, this.sightingTrust[i]!)
      let root = NONE
      for (let i = start; i < end; i++) {
        const node = this.sightingNode[i]!
        if (time < part.oldestTimeMs || time === part.oldestTimeMs && (id < part.oldestMessage || id === part.oldestMessage && this.keyBefore(node, part.oldestNode))) {
          part.oldestTimeMs = time
          part.oldestMessage = id
          part.oldestNode = node
        }
        if (best === UNVERIFIED || this.sightingTrust[i] === UNVERIFIED) continue
        const r = this.strongFind(node)
        if (root === NONE) root = r
        else if (r !== root) {
          this.strong[r] = root
          if (this.strongKnown[r] === 1) this.strongKnown[root] = 1
        }
      }
    }
    let known = 0
    for (const node of part.nodes) if (this.strong[node] === node && this.strongKnown[node] === 1) known++
    part.knownStrong = known
  }
}

/** Every tenant's graph; nothing ever links across tenants. */
export class IdentityResolver {
  private readonly graphs = new Map<string, TenantGraph>()

  private readonly rules: GraphRules
  private readonly decisions: ReadonlyMap<string, OperatorDecisions>

  constructor(rules: GraphRules = DEFAULT_GRAPH_RULES, decisions: ReadonlyMap<string, OperatorDecisions> = new Map()) {
    this.rules = rules
    this.decisions = decisions
  }

  graph(tenant: string): TenantGraph {
    let g = this.graphs.get(tenant)
    if (g === undefined) this.graphs.set(tenant, g = new TenantGraph(tenant, this.rules, this.decisions.get(tenant)))
    return g
  }

  /** Every tenant's graph as plain data (a snapshot). */
  toStates(): Array<GraphState> {
    return [...this.graphs.values()].map((g) => g.toState())
  }

  /** Puts a tenant's graph back as a snapshot stored it. */
  restore(state: GraphState): TenantGraph {
    const g = TenantGraph.fromState(state, this.rules, this.decisions.get(state.tenant))
    this.graphs.set(state.tenant, g)
    return g
  }
}
