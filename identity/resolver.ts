// The online resolver: the identity graph of each tenant kept in memory and brought up to date batch by batch. A
// batch re-resolves only the connected parts of the graph it touches (resolveGraph on their observations), so the
// result is always the one a full resolution of every observation would give, whatever the arrival order; it
// reports each message's profile and every earlier message whose profile moved (a merge or a split).
import {
  anchorChooser, atLeastAsTrusted, baseOf, DEFAULT_GRAPH_RULES, type GraphRules, type Link, nodeKey, type NodeKey,
  type Observation, profileIdFor, type RefusedLink, type Resolution, resolveGraph, type Sighting, type Trust,
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
  /** "merge": into a profile that existed; "split": into a new one. */
  readonly kind: "merge" | "split"
  readonly messages: number
}

export interface ResolveResult {
  /** Profile of each message of the batch. */
  readonly profiles: ReadonlyMap<string, string>
  /** Messages seen before whose profile changed. */
  readonly moved: ReadonlyArray<ProfileChange>
  /** Moves of messages between profiles, grouped. */
  readonly merges: ReadonlyArray<ProfileMerge>
  /** Profile of every identifier (node) of the re-resolved parts, and the shared values among them. */
  readonly nodes: ReadonlyMap<NodeKey, string>
  readonly shared: ReadonlyMap<NodeKey, string>
  /** Links made and refused by the re-resolution of the touched parts (provenance, for the warehouse). */
  readonly links: ReadonlyArray<Link>
  readonly refused: ReadonlyArray<RefusedLink>
}

interface Part {
  readonly observations: Array<Observation>
  readonly nodes: Set<NodeKey>
  /** Strongest trust each node was seen with. */
  readonly trust: Map<NodeKey, Trust>
  /** Pairs linked ("a\nb"), and each node's profile, as the part's last resolution made them. */
  readonly linked: Set<string>
  readonly profileOf: Map<NodeKey, string>
  minTimeMs: number
  /** No refused link, no shared value, no time slice: every link holds whatever order they come in. */
  clean: boolean
}

/** One tenant's graph, split into parts that share no identifier. */
export class TenantGraph {
  private readonly partOf = new Map<NodeKey, number>()
  private readonly parts = new Map<number, Part>()
  private readonly profileOfMessage = new Map<string, string>()
  private readonly partOfMessage = new Map<string, number>()
  /** Values shared by several people: they link nothing, so the parts they appear in resolve independently. */
  private readonly shared = new Map<NodeKey, string>()
  private readonly anchorOf: (o: Observation) => Sighting
  /** Every profile id given so far, to tell a merge (into a known profile) from a split (into a new one). */
  private readonly profiles = new Set<string>()
  private nextPart = 1

  private readonly tenant: string
  private readonly rules: GraphRules

  private readonly separate: ReadonlyArray<readonly [NodeKey, NodeKey]>

  constructor(tenant: string, rules: GraphRules = DEFAULT_GRAPH_RULES, decisions: OperatorDecisions = NO_DECISIONS) {
    this.tenant = tenant
    this.rules = rules
    this.anchorOf = anchorChooser(rules)
    // An identifier an operator removed links nobody, exactly like a value shared by several people.
    for (const [key, reason] of decisions.removed) this.shared.set(key, reason)
    this.separate = decisions.separate
  }

  get messageCount(): number {
    return this.profileOfMessage.size
  }

  profileOf(messageId: string): string | undefined {
    return this.profileOfMessage.get(messageId)
  }

  /** Adds observations (a message already known is replaced: replays change nothing). */
  resolve(batch: ReadonlyArray<Observation>): ResolveResult {
    const touched = new Set<number>()
    const fresh: Array<Observation> = []
    const profiles = new Map<string, string>()
    for (const o of batch) {
      const known = this.partOfMessage.get(o.messageId)
      if (known === undefined) {
        const profile = this.alreadyLinked(o)
        if (profile !== undefined) {
          profiles.set(o.messageId, profile)
          continue
        }
      } else touched.add(known)
      for (const s of o.sightings) {
        const part = this.partOf.get(nodeKey(s.kind, s.value))
        if (part !== undefined) touched.add(part)
      }
      fresh.push(o)
    }
    const inBatch = new Set(fresh.map((o) => o.messageId))
    const observations: Array<Observation> = []
    for (const id of touched) {
      for (const o of this.parts.get(id)!.observations) if (!inBatch.has(o.messageId)) observations.push(o)
      this.dropPart(id)
    }
    const byId = new Map<string, Observation>()
    for (const o of fresh) byId.set(o.messageId, o)
    for (const o of byId.values()) observations.push(o)
    if (observations.length === 0) return { profiles, moved: [], merges: [], nodes: new Map(), shared: new Map(), links: [], refused: [] }
    const r = resolveGraph(this.tenant, observations, this.rules, this.shared, this.separate)
    for (const [key, reason] of r.shared) this.shared.set(key, reason)
    const given: Array<string> = []
    const moved: Array<ProfileChange> = []
    for (const o of observations) {
      const anchor = r.anchorOf.get(o.messageId)
      // A message that states nothing linkable (every identifier refused or blocked) is a profile of its own.
      const profile = anchor === undefined ? profileIdFor(this.tenant, `message:${o.messageId}`) : r.profileOf.get(anchor)!
      const previous = this.profileOfMessage.get(o.messageId)
      this.profileOfMessage.set(o.messageId, profile)
      if (previous === undefined) given.push(profile)
      if (inBatch.has(o.messageId)) profiles.set(o.messageId, profile)
      if (previous !== undefined && previous !== profile) moved.push({ messageId: o.messageId, profileId: profile, previous })
    }
    this.storeParts(observations, r)
    const merges = this.groupMoves(moved)
    for (const p of given) this.profiles.add(p)
    const nodes = new Map<NodeKey, string>()
    for (const [key, profile] of r.profileOf) if (!key.startsWith("message:")) nodes.set(key, profile)
    return { profiles, moved, merges, nodes, shared: r.shared, links: r.links, refused: r.refused }
  }

  private groupMoves(moved: ReadonlyArray<ProfileChange>): Array<ProfileMerge> {
    const groups = new Map<string, ProfileMerge>()
    for (const m of moved) {
      const key = `${m.previous}\n${m.profileId}`
      const g = groups.get(key)
      groups.set(key, g === undefined
        ? { fromProfile: m.previous!, toProfile: m.profileId, kind: this.profiles.has(m.profileId) ? "merge" : "split", messages: 1 }
        : { ...g, messages: g.messages + 1 })
    }
    for (const m of moved) this.profiles.add(m.profileId)
    return [...groups.values()]
  }

  /**
   * The profile of a message that adds nothing to the graph: every identifier it states is already linked, with at
   * least its trust, in a clean part, and it is not older than that part. Its profile is then its anchor's, and no
   * other message can move; it joins the part's observations for later re-resolutions. Undefined otherwise.
   */
  private alreadyLinked(o: Observation): string | undefined {
    if (o.sightings.length === 0) return undefined
    const anchor = this.anchorOf(o)
    const anchorKey = nodeKey(anchor.kind, anchor.value)
    const id = this.partOf.get(anchorKey)
    const part = id === undefined ? undefined : this.parts.get(id)
    // Not older than the part, nor as old: an equal time with a smaller message id would make another identifier the oldest.
    if (part === undefined || !part.clean || o.timeMs <= part.minTimeMs) return undefined
    for (const s of o.sightings) {
      const key = nodeKey(s.kind, s.value)
      const trust = part.trust.get(key)
      if (trust === undefined || !atLeastAsTrusted(trust, s.trust)) return undefined
      if (key !== anchorKey && !part.linked.has(`${anchorKey}\n${key}`)) return undefined
    }
    const profile = part.profileOf.get(anchorKey)
    if (profile === undefined) return undefined
    part.observations.push(o)
    this.partOfMessage.set(o.messageId, id!)
    this.profileOfMessage.set(o.messageId, profile)
    return profile
  }

  private dropPart(id: number): void {
    const part = this.parts.get(id)!
    for (const n of part.nodes) this.partOf.delete(n)
    for (const o of part.observations) this.partOfMessage.delete(o.messageId)
    this.parts.delete(id)
  }

  /**
   * Splits the re-resolved observations into parts that share no identifier, ignoring values shared by several
   * people (they link nothing, so they must not glue parts together and make every batch re-resolve them all).
   */
  private storeParts(observations: ReadonlyArray<Observation>, r: Resolution): void {
    const shared = this.shared
    const links = r.links
    const parent = new Map<NodeKey, NodeKey>()
    const find = (n: NodeKey): NodeKey => {
      let root = n
      while ((parent.get(root) ?? root) !== root) root = parent.get(root)!
      return root
    }
    const union = (a: NodeKey, b: NodeKey) => {
      const ra = find(a)
      const rb = find(b)
      if (ra !== rb) parent.set(ra, rb)
    }
    for (const o of observations) {
      let first: NodeKey | undefined
      for (const s of o.sightings) {
        const key = nodeKey(s.kind, s.value)
        if (!parent.has(key)) parent.set(key, key)
        if (shared.has(key)) continue
        if (first === undefined) first = key
        else union(first, key)
      }
    }
    for (const l of links) union(baseOf(l.a), baseOf(l.b))
    const partByRoot = new Map<NodeKey, number>()
    for (const o of observations) {
      const keys = o.sightings.map((s) => nodeKey(s.kind, s.value))
      const anchorKey = keys.find((k) => !shared.has(k)) ?? keys[0] ?? `message:${o.messageId}`
      if (!parent.has(anchorKey)) parent.set(anchorKey, anchorKey)
      const root = find(anchorKey)
      let id = partByRoot.get(root)
      if (id === undefined) {
        id = this.nextPart++
        partByRoot.set(root, id)
        this.parts.set(id, { observations: [], nodes: new Set(), trust: new Map(), linked: new Set(), profileOf: new Map(), minTimeMs: o.timeMs, clean: true })
      }
      const part = this.parts.get(id)!
      part.observations.push(o)
      part.minTimeMs = Math.min(part.minTimeMs, o.timeMs)
      this.partOfMessage.set(o.messageId, id)
      for (const s of o.sightings) {
        const k = nodeKey(s.kind, s.value)
        const trust = part.trust.get(k)
        if (trust === undefined || atLeastAsTrusted(s.trust, trust)) part.trust.set(k, s.trust)
        if (shared.has(k)) part.clean = false
      }
      for (const k of keys) {
        // A shared value is seen in several parts; the index keeps one. It links nothing, so a new sighting of it
        // resolves correctly with any of them.
        part.nodes.add(k)
        this.partOf.set(k, id)
      }
    }
    const partOfBase = (key: NodeKey) => {
      const id = this.partOf.get(baseOf(key))
      return id === undefined ? undefined : this.parts.get(id)
    }
    for (const l of r.refused) {
      const part = partOfBase(l.a) ?? partOfBase(l.b)
      if (part !== undefined) part.clean = false
    }
    for (const l of links) partOfBase(l.a)?.linked.add(`${l.a}\n${l.b}`)
    for (const [key, profile] of r.profileOf) {
      const part = partOfBase(key)
      if (part === undefined) continue
      part.profileOf.set(key, profile)
      if (key !== baseOf(key)) part.clean = false
    }
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
}
