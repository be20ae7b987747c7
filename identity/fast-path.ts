// The online identity graph's fast path: a message whose identifiers are new or lie in clean parts, and that keeps
// their union clean, is applied as a union in O(identifiers), exactly as the full resolution (graph.ts resolveGraph)
// would decide it. Anything else is deferred to the batch's re-resolution (reresolution.ts).
import { nodeKey, type Observation, OPERATOR, profileIdFor, type Sighting } from "./graph.ts"
import { GraphStore, NONE, Part, TRUST_CODE, TRUSTS, UNVERIFIED } from "./graph-store.ts"

export class FastPathGraph extends GraphStore {
  /** Scratch of one union (fields, not an object per message): what `gatherParts` saw, and the name `nameUnion` chose. */
  private sharedSeen = 0
  private freshSeen = false
  private oldestTimeMs = Infinity
  private oldestMessage = ""
  private oldestNode = NONE

  /**
   * Applies a message as a union of the clean parts (and new identifiers) it names, when the full resolution would
   * decide the same: the union holds at most `limit` values of each kind (so no link is refused by a limit, and no
   * value can be seen with more people than a limit allows, so nothing is found shared or cut in time), at most one
   * component of verified/stated links holds a known person (so no unverified link is refused), no identifier is
   * shared, removed or kept apart by an operator, and the message is not an operator's. Then the union is one profile,
   * named by its oldest identifier. Returns false, changing nothing, when any of this is not so.
   */
  protected union(m: number, o: Observation): boolean {
    const n = o.sightings.length
    if (n === 0) {
      this.setProfile(m, this.ownProfile(o.messageId))
      return true
    }
    if (o.messageId.startsWith(OPERATOR)) return false
    const count = this.gatherParts(m, n)
    if (count === NONE) return false
    const anchorAt = this.anchorAt(m)
    if (this.sharedSeen === n) return this.allShared(m, o, o.sightings[anchorAt]!)
    if (this.sharedSeen > 0) return false
    if (this.separateKeys.size > 0) for (const s of o.sightings) if (this.separateKeys.has(nodeKey(s.kind, s.value))) return false
    const freshNodes = this.freshWithinLimits(m, n, count)
    if (freshNodes === NONE) return false
    const known = this.knownAfter(m, n, count, anchorAt)
    if (known > 1) return false
    this.applyUnion(m, o, count, anchorAt, freshNodes, known)
    return true
  }

  /**
   * The distinct clean parts the message's identifiers lie in, into the scratch arrays `touchedParts`/`touchedIds`;
   * how many, or NONE when one lies in a part that is not clean or is resolved again in this batch. Counts shared
   * identifiers (`sharedSeen`) and notes new ones (`freshSeen`).
   */
  private gatherParts(m: number, n: number): number {
    const start = this.messageStart[m]!
    const end = start + n
    this.sharedSeen = 0
    this.freshSeen = false
    // Scratch arrays, overwritten up to `count` (emptying an array by its length would free its storage every message).
    const touched = this.touchedParts
    const touchedIds = this.touchedIds
    let count = 0
    for (let i = start; i < end; i++) {
      const node = this.sightingNode[i]!
      if (this.nodeShared[node] === 1) {
        this.sharedSeen++
        continue
      }
      const p = this.nodePart[node]!
      if (p === NONE) {
        if (this.pendingNodes.has(node)) return NONE
        this.freshSeen = true
        continue
      }
      if (this.dirtyParts.has(p)) return NONE
      let seen = false
      for (let j = 0; j < count; j++) if (touchedIds[j] === p) seen = true
      if (seen) continue
      const part = this.parts.get(p)!
      if (!part.clean) return NONE
      touched[count] = part
      touchedIds[count++] = p
    }
    return count
  }

  /**
   * How many new identifiers the union adds, or NONE when it would hold more values of a kind than its limit allows
   * (a message within one clean part adds none: the part holds no more than the limits).
   */
  private freshWithinLimits(m: number, n: number, count: number): number {
    const start = this.messageStart[m]!
    const end = start + n
    const token = ++this.stampToken
    const kinds = this.kindNames.length
    const counts = this.counts.length === kinds ? this.counts : this.counts = new Uint16Array(kinds)
    let freshNodes = 0
    if (!this.freshSeen && count <= 1) return 0
    counts.fill(0)
    // A part holds each identifier once: its nodes are its distinct values.
    for (let j = 0; j < count; j++) for (const node of this.touchedParts[j]!.nodes) counts[this.nodeKind[node]!]! += 1
    for (let i = start; i < end; i++) {
      const node = this.sightingNode[i]!
      if (this.nodePart[node] !== NONE || this.stamp[node] === token) continue
      this.stamp[node] = token
      counts[this.nodeKind[node]!]! += 1
      freshNodes++
    }
    for (let k = 0; k < kinds; k++) if (counts[k]! > this.kindLimit[k]!) return NONE
    return freshNodes
  }

  /**
   * Known components of verified/stated links after the union: the message joins its anchor with each identifier
   * it states above unverified trust (an unverified anchor means every sighting is unverified: it joins nothing).
   */
  private knownAfter(m: number, n: number, count: number, anchorAt: number): number {
    const start = this.messageStart[m]!
    const end = start + n
    let known = 0
    for (let j = 0; j < count; j++) known += this.touchedParts[j]!.knownStrong
    if (this.sightingTrust[start + anchorAt] === UNVERIFIED) return known
    const rootToken = ++this.stampToken
    let joinedKnown = 0
    let anyKnown = false
    for (let i = start; i < end; i++) {
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
    return known + (anyKnown ? 1 : 0) - joinedKnown
  }

  /** Applies a union that holds: the parts join the largest (or a new part), under the profile of the oldest identifier. */
  private applyUnion(m: number, o: Observation, count: number, anchorAt: number, freshNodes: number, known: number): void {
    const touched = this.touchedParts
    const touchedIds = this.touchedIds
    let target: Part | undefined
    let targetId = NONE
    for (let j = 0; j < count; j++) {
      if (target === undefined || touched[j]!.nodes.length > target.nodes.length) {
        target = touched[j]!
        targetId = touchedIds[j]!
      }
    }
    const profile = this.nameUnion(m, o, count)
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
    this.joinParts(count, target, targetId, targetMessages, profile)
    this.addSightings(m, o, target, targetId, filled, profile)
    this.joinTrusted(m, o.sightings.length, anchorAt)
    target.knownStrong = known
    target.profile = profile
    target.oldestTimeMs = this.oldestTimeMs
    target.oldestMessage = this.oldestMessage
    target.oldestNode = this.oldestNode
    if (filled === NONE) targetMessages.push(m)
    this.setProfile(m, profile)
    this.recordLinks(m, o, anchorAt)
  }

  /**
   * The union's profile, named by its oldest identifier (left in the `oldest*` scratch fields): a part whose oldest
   * identifier stays the oldest keeps its profile (a clean part's profile is named by it); otherwise a new id.
   */
  private nameUnion(m: number, o: Observation, count: number): string {
    const start = this.messageStart[m]!
    const end = start + o.sightings.length
    let oldestTimeMs = Infinity
    let oldestMessage = ""
    let oldestNode = NONE
    let named: Part | undefined
    for (let j = 0; j < count; j++) {
      const part = this.touchedParts[j]!
      if (part.oldestTimeMs < oldestTimeMs || part.oldestTimeMs === oldestTimeMs && (part.oldestMessage < oldestMessage || part.oldestMessage === oldestMessage && this.keyBefore(part.oldestNode, oldestNode))) {
        oldestTimeMs = part.oldestTimeMs
        oldestMessage = part.oldestMessage
        oldestNode = part.oldestNode
        named = part
      }
    }
    if (o.timeMs < oldestTimeMs || o.timeMs === oldestTimeMs && o.messageId <= oldestMessage) {
      for (let i = start; i < end; i++) {
        const node = this.sightingNode[i]!
        if (o.timeMs < oldestTimeMs || o.messageId < oldestMessage || this.keyBefore(node, oldestNode)) {
          oldestTimeMs = o.timeMs
          oldestMessage = o.messageId
          oldestNode = node
          named = undefined
        }
      }
    }
    this.oldestTimeMs = oldestTimeMs
    this.oldestMessage = oldestMessage
    this.oldestNode = oldestNode
    if (named !== undefined) return named.profile
    const profile = profileIdFor(this.tenant, this.keyOf(oldestNode))
    this.created.push(profile)
    this.renamed.add(profile)
    return profile
  }

  /**
   * The touched parts join the target under `profile`: the batch's messages of a part whose profile changes move, and
   * its messages stored before this batch are recorded to move by identifier (once per node and batch).
   */
  private joinParts(count: number, target: Part, targetId: number, targetMessages: Array<number>, profile: string): void {
    const touched = this.touchedParts
    // Every part's change of profile is recorded before any part's nodes join the target: a node that joined first
    // would be recorded with the target's old profile, not its own.
    for (let j = 0; j < count; j++) {
      const part = touched[j]!
      if (part.profile !== profile) {
        for (const x of this.batchMessages(part)) this.setProfile(x, profile)
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
    }
    for (let j = 0; j < count; j++) {
      const part = touched[j]!
      if (part === target) continue
      for (const node of part.nodes) {
        this.nodePart[node] = targetId
        target.nodes.push(node)
      }
      for (const x of this.batchMessages(part)) targetMessages.push(x)
    }
    for (let j = 0; j < count; j++) if (touched[j] !== target) this.parts.delete(this.touchedIds[j]!)
  }

  /** The message's new identifiers join the target part; each identifier keeps the best trust it was seen with. */
  private addSightings(m: number, o: Observation, target: Part, targetId: number, filled: number, profile: string): void {
    const start = this.messageStart[m]!
    const n = o.sightings.length
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
  }

  /** The message's verified and stated sightings join its anchor's component of trusted links. */
  private joinTrusted(m: number, n: number, anchorAt: number): void {
    const start = this.messageStart[m]!
    const end = start + n
    if (this.sightingTrust[start + anchorAt] === UNVERIFIED) return
    let root = this.strongFind(this.sightingNode[start + anchorAt]!)
    for (let i = start; i < end; i++) {
      if (this.sightingTrust[i] === UNVERIFIED) continue
      const other = this.strongFind(this.sightingNode[i]!)
      if (other === root) continue
      this.strong[other] = root
      if (this.strongKnown[other] === 1) this.strongKnown[root] = 1
      root = this.strongFind(root)
    }
  }

  /** Provenance: the links this message made, as resolveGraph would record them (keys from `addSightings`). */
  private recordLinks(m: number, o: Observation, anchorAt: number): void {
    const n = o.sightings.length
    if (n <= 1) return
    const start = this.messageStart[m]!
    const anchorTrust = this.sightingTrust[start + anchorAt]!
    const anchorNode = this.sightingNode[start + anchorAt]!
    const keys = this.keyScratch
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

  /** A message that states only shared values belongs to no person: a profile of its own, every link refused. */
  protected allShared(m: number, o: Observation, anchor: Sighting): boolean {
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
}
