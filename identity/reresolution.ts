// The online identity graph's re-resolution: at the end of a batch, the parts its deferred messages touched are
// resolved again with them (graph.ts resolveGraph), together with their stored messages read back by identifier, and
// the result is split into parts again, each marked clean (one profile, every link holds) or not.
import {
  baseOf, type Link, nodeKey, type NodeKey, type Observation, OPERATOR, profileIdFor, type RefusedLink, type Resolution, resolveGraphSteps, splitNodeKey,
} from "./graph.ts"
import { FastPathGraph } from "./fast-path.ts"
import { NONE, Part, UNSEEN, UNVERIFIED } from "./graph-store.ts"
import { eachStep, pauseAt, type Steps } from "./slices.ts"

export class ReresolvingGraph extends FastPathGraph {
  /**
   * Resolves the touched parts with the deferred messages (resolveGraph), and splits the result into parts again; in
   * steps (identity/slices.ts), since the parts can be a tenant's whole history.
   */
  protected *reresolve(stored: ReadonlyArray<Observation>): Steps<void> {
    const gathered: Array<number> = []
    const token = ++this.stampToken
    const seen = new Set<number>()
    let step = 0
    for (const p of this.dirtyParts) {
      if (pauseAt(step++)) yield
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
    for (const x of this.deferred) {
      if (!seen.has(x)) { seen.add(x); gathered.push(x) }
      if (pauseAt(step++)) yield
    }
    const back = yield* this.readBack(stored)
    for (const x of back.added) {
      if (!seen.has(x)) { seen.add(x); gathered.push(x) }
      if (pauseAt(step++)) yield
    }
    const observations = new Array<Observation>(gathered.length)
    for (let i = 0; i < gathered.length; i++) {
      observations[i] = this.observationOf(gathered[i]!)
      if (pauseAt(i)) yield
    }
    this.stats.reresolved += observations.length
    const r = yield* resolveGraphSteps(this.tenant, observations, this.rules, this.shared, this.separate)
    for (const [key, reason] of r.shared) {
      this.outShared.set(key, reason)
      if (this.shared.has(key)) continue
      this.shared.set(key, reason)
      const node = this.nodeOf(key)
      if (node !== undefined) this.nodeShared[node] = 1
    }
    for (let i = 0; i < gathered.length; i++) {
      const x = gathered[i]!
      const anchor = r.anchorOf.get(observations[i]!.messageId)
      // A message that states nothing linkable (every identifier refused or blocked) is a profile of its own.
      const profile = anchor === undefined ? profileIdFor(this.tenant, `message:${this.messageIds[x]}`) : r.profileOf.get(anchor)!
      this.setProfile(x, profile)
      this.created.push(profile)
      if (pauseAt(i)) yield
    }
    // These messages' links are made again here: what the fast path gave some of them earlier in this batch (not
    // stored yet) is replaced, not stored beside them with the same time.
    const again = new Set(observations.map((o) => o.messageId))
    if (this.outLinks.length > 0) this.outLinks = this.outLinks.filter((l) => !again.has(l.messageId))
    if (this.outRefused.length > 0) this.outRefused = this.outRefused.filter((l) => !again.has(l.messageId))
    yield* this.withdraw(back.before, r)
    if (r.refused.length === 0) for (const l of r.links) this.outLinks.push(l)
    else {
      const refusedKeys = new Set<string>()
      for (const l of r.refused) refusedKeys.add(`${l.a}\n${l.b}\n${l.messageId}`)
      for (const l of r.links) {
        if (!refusedKeys.has(`${l.a}\n${l.b}\n${l.messageId}`)) this.outLinks.push(l)
        if (pauseAt(step++)) yield
      }
    }
    for (const l of r.refused) this.outRefused.push(l)
    for (const [key, profile] of r.profileOf) {
      if (pauseAt(step++)) yield
      if (key.startsWith("message:")) continue
      this.outNodes.set(key, profile)
      if (key === baseOf(key)) {
        const node = this.nodeOf(key)
        if (node !== undefined) this.nodeProfile[node] = profile
      }
    }
    yield* this.storeParts(gathered, observations, r.refused, r.profileOf, token)
  }

  /**
   * Takes the stored messages of the parts resolved again into the batch, each with the profile it had before this
   * batch: the resolution of those stored messages alone (the graph is a function of the observations, and parts
   * share no identifier, so this is the profile each was last given). A message of this batch that was stored
   * before replaces its stored version, and had that version's profile.
   */
  protected *readBack(stored: ReadonlyArray<Observation>): Steps<{ readonly added: Array<number>; readonly before: Resolution | undefined }> {
    // The latest version of each message (a message read back twice, or sent again, counts once).
    const latest = new Map<string, Observation>()
    yield* eachStep(stored, (o) => { if (o.sightings.length > 0) latest.set(o.messageId, o) })
    const present = [...latest.values()]
    if (present.length === 0) return { added: [], before: undefined }
    const before = yield* resolveGraphSteps(this.tenant, present, this.rules, this.shared, this.separate)
    const changedAt = new Map<number, number>()
    this.changed.forEach((m, j) => changedAt.set(m, j))
    const added: Array<number> = []
    let step = 0
    for (const o of present) {
      if (pauseAt(step++)) yield
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
    return { added, before }
  }

  /**
   * What the stored messages' earlier resolution (`before`, as readBack made it) stored that this one (`now`) no longer
   * makes: a link under keys no longer made (its anchor or value cut into time slices, or no longer: a value found
   * shared) is withdrawn, and a time slice no longer cut is given to the value's latest owner now (as a lookup of the
   * value by its latest slice answers), so what is stored reads as one resolution of the whole history, however the
   * messages were batched. Keys the earlier resolution made but nothing stored are withdrawn harmlessly.
   */
  private *withdraw(before: Resolution | undefined, now: Resolution): Steps<void> {
    if (before === undefined) return
    const made = new Set<string>()
    const keyOf = (l: Link) => `${l.a}\n${l.b}\n${l.messageId}`
    let step = 0
    for (const list of [now.links, now.refused]) for (const l of list) {
      made.add(keyOf(l))
      if (pauseAt(step++)) yield
    }
    for (const list of [before.links, before.refused]) for (const l of list) {
      if (pauseAt(step++)) yield
      const key = keyOf(l)
      if (made.has(key)) continue
      made.add(key)
      this.outWithdrawn.push({ a: l.a, b: l.b, messageId: l.messageId, timeMs: l.timeMs, trust: l.trust, rule: l.rule })
    }
    let latest: Map<NodeKey, NodeKey> | undefined
    for (const key of before.profileOf.keys()) {
      if (pauseAt(step++)) yield
      if (key === baseOf(key) || now.profileOf.has(key)) continue
      if (latest === undefined) {
        // Each value's latest time slice now (slices of one value are numbered in time order).
        latest = new Map()
        for (const k of now.profileOf.keys()) {
          const base = baseOf(k)
          const at = latest.get(base)
          if (at === undefined || splitNodeKey(k).slice > splitNodeKey(at).slice) latest.set(base, k)
        }
      }
      const owner = latest.get(baseOf(key))
      if (owner !== undefined) this.outNodes.set(key, now.profileOf.get(owner)!)
    }
  }

  /**
   * Parts outside the ones being resolved again that stored messages also state (another pipeline member linked
   * them, and this graph has not read that yet): they are resolved again too. Returns the identifiers (seen before
   * this batch) whose stored messages are needed as well; none when the stored messages stay within the parts. In
   * steps (identity/slices.ts): what is read back can be a tenant's whole history.
   */
  *widenSteps(stored: ReadonlyArray<Observation>): Steps<ReadonlyArray<NodeKey>> {
    const needed: Array<NodeKey> = []
    let step = 0
    for (const o of stored) {
      if (pauseAt(step++)) yield
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
  protected *storeParts(
    gathered: ReadonlyArray<number>, observations: ReadonlyArray<Observation>, refused: ReadonlyArray<RefusedLink>,
    profileOf: ReadonlyMap<NodeKey, string>, token: number,
  ): Steps<void> {
    const made = yield* this.splitIntoParts(gathered, token)
    const partOfKey = (key: NodeKey): Part | undefined => {
      if (key.startsWith("message:")) return undefined
      const node = this.nodeOf(baseOf(key))
      return node === undefined || this.nodePart[node] === NONE ? undefined : this.parts.get(this.nodePart[node]!)
    }
    let step = 0
    for (let i = 0; i < gathered.length; i++) {
      const x = gathered[i]!
      const start = this.messageStart[x]!
      for (let j = start; j < start + this.messageLength[x]!; j++) {
        const node = this.sightingNode[j]!
        if (this.nodeShared[node] === 1) continue
        const part = this.parts.get(this.nodePart[node]!)!
        part.messages.push(x)
        if (observations[i]!.messageId.startsWith(OPERATOR)) part.clean = false
        break
      }
      if (pauseAt(step++)) yield
    }
    for (const l of refused) {
      if (pauseAt(step++)) yield
      const a = partOfKey(l.a)
      if (a !== undefined) a.clean = false
      const b = partOfKey(l.b)
      if (b !== undefined) b.clean = false
    }
    for (const key of profileOf.keys()) {
      if (pauseAt(step++)) yield
      if (key === baseOf(key)) continue
      const part = partOfKey(key)
      if (part !== undefined) part.clean = false
    }
    for (const id of made) {
      const part = this.parts.get(id)!
      if (part.clean) this.describeClean(part, profileOf)
      if (pauseAt(step++)) yield
    }
  }

  /**
   * The parts (new ids) of the re-resolved messages' identifiers: identifiers a message states together are one part
   * (union-find), shared values left out; each identifier's trust is the best it is stated with.
   */
  protected *splitIntoParts(gathered: ReadonlyArray<number>, token: number): Steps<Array<number>> {
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
    let step = 0
    for (const x of gathered) {
      if (pauseAt(step++)) yield
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
      if (pauseAt(step++)) yield
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
    return made
  }

  /** A clean part's profile, oldest identifier and known components, from its messages. */
  protected describeClean(part: Part, profileOf: ReadonlyMap<NodeKey, string>): void {
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
