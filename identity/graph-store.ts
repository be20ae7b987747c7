// The online identity graph's state (identity/resolver.ts): kinds, identifiers (nodes) interned into typed arrays,
// the parts they form, the messages of the batch being resolved, and what the batch outputs; with the small
// operations every layer above uses (interning, a message's sightings, its profile, union-find of trusted links).
// The layers: fast-path.ts (a message applied as a union), reresolution.ts (touched parts resolved again),
// graph-state.ts (the state as plain data, for snapshots), resolver.ts (a batch: begin and finish).
import {
  DEFAULT_GRAPH_RULES, type GraphRules, type Link, nodeKey, type NodeKey, type Observation, profileIdFor, type RefusedLink, type Sighting, type Trust,
} from "./graph.ts"
import { grow, StringIds } from "./interning.ts"
import { NO_DECISIONS, type OperatorDecisions } from "./resolution.ts"

export const TRUSTS: ReadonlyArray<Trust> = ["verified", "stated", "unverified"]
export const TRUST_CODE: Readonly<Record<Trust, number>> = { verified: 0, stated: 1, unverified: 2 }
export const UNVERIFIED = 2
/** Trust of a node not seen yet. */
export const UNSEEN = 3
export const NONE = -1

/** A connected part of the graph: the identifiers (and the messages stating them) that no other part shares. */
export class Part {
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

/** One tenant's graph: its state and the operations on it that every layer shares. */
export class GraphStore {
  // Kinds, by index.
  protected readonly kindIndex = new Map<string, number>()
  protected readonly kindNames: Array<string> = []
  protected readonly kindLimit: Array<number> = []
  protected readonly kindPerson: Array<boolean> = []
  /** Rank of each kind's "kind:" among all kinds' (how node keys of different kinds sort), by kind index. */
  protected readonly kindOrder: Array<number> = []
  // Identifiers (nodes), by id: value per kind, best trust seen, part, shared, and the union-find of verified/stated links.
  protected readonly byKind: Array<StringIds> = []
  protected nodeValue: Array<string> = []
  /** The profile of each identifier (of its first time slice, for a value that changed owner). */
  protected nodeProfile: Array<string | undefined> = []
  protected nodeKind = new Uint8Array(1024)
  protected nodeTrust = new Uint8Array(1024)
  protected nodePart = new Int32Array(1024)
  protected nodeShared = new Uint8Array(1024)
  protected strong = new Int32Array(1024)
  protected strongKnown = new Uint8Array(1024)
  /** The batch each node was first seen in: a node first seen in the batch being resolved has no stored messages. */
  protected nodeBatch = new Int32Array(1024)
  /** The batch in which a node's part move was recorded (each node's stored messages move once per batch). */
  protected nodeMoved = new Int32Array(1024)
  protected nodeCount = 0
  // The batch's messages (and stored ones read back for a re-resolution), by batch-local index: id, time, sightings
  // (a range of node ids with their trust), current profile. Emptied when the next batch begins.
  protected messageIndex = new StringIds()
  protected messageIds: Array<string> = []
  protected messageTime = new Float64Array(1024)
  protected messageStart = new Int32Array(1024)
  protected messageLength = new Uint16Array(1024)
  protected messageProfile: Array<string> = []
  protected sightingNode = new Int32Array(4096)
  protected sightingTrust = new Uint8Array(4096)
  protected sightingCount = 0
  protected readonly parts = new Map<number, Part>()
  protected nextPart = 1
  /** Values shared by several people (or removed by an operator): they link nothing, and belong to no part. */
  protected readonly shared = new Map<NodeKey, string>()
  protected readonly separateKeys: ReadonlySet<NodeKey>
  /** Every profile id given so far, to tell a merge (into a known profile) from a split (into a new one). */
  protected readonly profileIds: Array<string> = []
  protected readonly profileIndex = new StringIds()
  /**
   * Recently resolved messages (resolver.ts RECENT_MESSAGES): a hash of the id -> a digest of the message; insertion
   * order is age (the oldest is forgotten first). Hashes, not ids: the graph and its snapshot hold no message ids,
   * and two ids with one hash only make a message look sent again, which a re-resolution answers exactly.
   */
  protected readonly recent = new Map<number, number>()
  /** Rank of each kind in the rules' priority (99 for a kind not listed), by kind index. */
  protected readonly kindRank: Array<number> = []

  // The batch being resolved.
  protected dirtyParts = new Set<number>()
  protected pendingNodes = new Set<number>()
  protected deferred: Array<number> = []
  /** Messages whose profile this batch gave or changed, with the profile each had before it. */
  protected changed: Array<number> = []
  /** Profile ids this batch named (known after its moves are grouped: a move into one of them is a split). */
  protected created: Array<string> = []
  /**
   * Profile ids this batch named for parts it joined, because a message older than all of them arrived (files ingested
   * one after another, a late post): the parts' messages move whole into it, which is a merge, not a split.
   */
  protected renamed = new Set<string>()
  protected previous: Array<string | undefined> = []
  /** Clean parts whose profile changed in this batch: their nodes (first seen before it) and the profile they had. */
  protected origins: Array<{ readonly nodes: Array<number>; readonly from: string }> = []
  /** Nodes of the parts resolved again in this batch (their stored messages are read back and moved one by one). */
  protected reresolvedNodes = new Set<number>()
  protected messageBatch = new Int32Array(1024)
  protected batchToken = 0
  protected outNodes = new Map<NodeKey, string>()
  protected outLinks: Array<Link> = []
  protected outRefused: Array<RefusedLink> = []
  protected outWithdrawn: Array<Link> = []
  protected outShared = new Map<NodeKey, string>()
  protected stamp = new Int32Array(1024)
  protected stampToken = 0
  protected readonly touchedParts: Array<Part> = []
  protected readonly touchedIds: Array<number> = []
  protected readonly keyScratch: Array<string> = []
  protected counts = new Uint16Array(0)

  protected readonly tenant: string
  protected readonly rules: GraphRules
  protected readonly separate: ReadonlyArray<readonly [NodeKey, NodeKey]>

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

  // ---- interning -------------------------------------------------------------------------------------------------

  protected kindOf(kind: string): number {
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
  protected keyBefore(a: number, b: number): boolean {
    if (b === NONE) return false
    const ka = this.nodeKind[a]!
    const kb = this.nodeKind[b]!
    return ka === kb ? this.nodeValue[a]! < this.nodeValue[b]! : this.kindOrder[ka]! < this.kindOrder[kb]!
  }

  protected keyOf(node: number): NodeKey {
    return `${this.kindNames[this.nodeKind[node]!]}:${this.nodeValue[node]}`
  }

  protected nodeOf(key: NodeKey): number | undefined {
    const colon = key.indexOf(":")
    const k = this.kindIndex.get(key.slice(0, colon))
    if (k === undefined) return undefined
    const node = this.byKind[k]!.get(key.slice(colon + 1), this.nodeValue)
    return node === -1 ? undefined : node
  }

  protected intern(s: Sighting): number {
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

  protected addMessage(o: Observation): number {
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

  protected storeSightings(m: number, o: Observation): void {
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

  protected sameAsStored(m: number, o: Observation): boolean {
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
  protected observationOf(m: number): Observation {
    const start = this.messageStart[m]!
    const sightings: Array<Sighting> = []
    for (let i = start; i < start + this.messageLength[m]!; i++) {
      const node = this.sightingNode[i]!
      sightings.push({ kind: this.kindNames[this.nodeKind[node]!] as Sighting["kind"], value: this.nodeValue[node]!, trust: TRUSTS[this.sightingTrust[i]!]! })
    }
    return { messageId: this.messageIds[m]!, timeMs: this.messageTime[m]!, sightings }
  }

  /** The profile of a message that belongs to no person (it states nothing linkable). */
  protected ownProfile(messageId: string): string {
    const profile = profileIdFor(this.tenant, `message:${messageId}`)
    this.created.push(profile)
    return profile
  }

  /**
   * Which of a stored message's sightings anchors it, exactly as graph.ts anchorChooser picks it: the most trusted,
   * then the strongest kind, then the smallest value.
   */
  protected anchorAt(m: number): number {
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

  protected setProfile(m: number, profile: string): void {
    if (this.messageBatch[m] !== this.batchToken) {
      this.messageBatch[m] = this.batchToken
      this.changed.push(m)
      this.previous.push(this.messageProfile[m])
    }
    this.messageProfile[m] = profile
  }

  /** A part's messages of the batch being resolved. */
  protected batchMessages(part: Part): Array<number> {
    if (part.batch !== this.batchToken) {
      part.messages.length = 0
      part.batch = this.batchToken
    }
    return part.messages
  }

  protected addProfile(p: string): void {
    if (this.profileIndex.getOrAdd(p, this.profileIds, this.profileIds.length) === this.profileIds.length) this.profileIds.push(p)
  }

  /** The root of a node in the union-find of verified and stated links (path compression). */
  protected strongFind(n: number): number {
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

  /** Marks the parts of what a message states for re-resolution at the end of the batch. */
  protected touch(m: number): void {
    const start = this.messageStart[m]!
    for (let i = start; i < start + this.messageLength[m]!; i++) {
      const node = this.sightingNode[i]!
      const p = this.nodePart[node]!
      if (p !== NONE) this.dirtyParts.add(p)
      else if (this.nodeShared[node] === 0) this.pendingNodes.add(node)
    }
  }

  protected defer(m: number): void {
    this.deferred.push(m)
    this.touch(m)
  }

}
