// The deterministic identity graph: from what messages state about their sender (sightings of normalised
// identifiers), which identifiers belong to one person. The result is a function of the set of observations only,
// never of their arrival order: links are ranked by a total order (trust, time, message id) and added greedily under
// the per-profile limits, values shared by several people are found from all their sightings at once, and a
// profile's id is that of its oldest identifier, so a merge keeps the oldest id and a split-off part gets its own.
import { hash } from "node:crypto"
import type { IdentifierKind } from "./normalise.ts"
import { pauseAt, runSteps, sortSteps, type Steps } from "./slices.ts"

/** How far a sighting can be trusted: logged in or observed by a system, stated by the person, or typed anywhere. */
export type Trust = "verified" | "stated" | "unverified"

const TRUST_RANK: Readonly<Record<Trust, number>> = { verified: 0, stated: 1, unverified: 2 }

export interface Sighting {
  readonly kind: IdentifierKind
  /** Normalised value (identity/normalise.ts). */
  readonly value: string
  readonly trust: Trust
}

/** What one message states about its sender. */
export interface Observation {
  readonly messageId: string
  readonly timeMs: number
  readonly sightings: ReadonlyArray<Sighting>
}

export interface GraphRules {
  /** Most distinct values of a kind one profile may hold (default 5; user_id 1). */
  readonly limits: Readonly<Partial<Record<IdentifierKind, number>>>
  readonly defaultLimit: number
  /** Which identifier anchors a message, and whose links win: earlier kinds first. */
  readonly priority: ReadonlyArray<IdentifierKind>
  /**
   * Kinds that tell people apart: a value seen with more distinct values of one of these kinds than that kind's
   * limit is shared by several people (a family device, a switchboard number, a role inbox) unless the sightings
   * follow one another in time (the value changed owner).
   */
  readonly personKinds: ReadonlyArray<IdentifierKind>
  /**
   * Whether a typed value (a phone or handle in a mail's signature) that a profile holds on verified or stated
   * evidence (the account's own phone trait) may join the one sender who typed it to that profile (see
   * joinUnderLimits). Values of person kinds (an e-mail typed into a chat form) never do.
   */
  readonly corroboratedUnverified: boolean
  /**
   * Per kind, how long a value must go unseen before a second person's first sighting for a sighting of it alone (a
   * mail to the address) to count as its change of owner (default RECYCLE_QUIET_MS; a kind not named needs none): an
   * address is handed on after it went dormant, while one still in use (mail delivered to it last month) is its
   * holder's, whoever states it. A new owner's own sighting observed with their account needs no quiet period.
   */
  readonly recycleQuietMs?: Readonly<Partial<Record<IdentifierKind, number>>>
}

/**
 * Default recycleQuietMs: an e-mail address 90 days (providers hand an address on only after months unused, a company
 * a mailbox after its holder left). None for phones: a household line passes between people who call from it, and
 * with 30 days for phones too the data set's precision fell (0.99917 to 0.99723, test/cli/devset.test.ts).
 */
export const RECYCLE_QUIET_MS: Readonly<Partial<Record<IdentifierKind, number>>> = { email: 90 * 86_400_000 }

const quietOf = (rules: GraphRules, kind: IdentifierKind): number => (rules.recycleQuietMs ?? RECYCLE_QUIET_MS)[kind] ?? 0

export const DEFAULT_GRAPH_RULES: GraphRules = {
  limits: { user_id: 1 },
  defaultLimit: 5,
  priority: ["user_id", "email", "phone", "twitter_id", "twitter_handle", "social_handle", "external_id", "device_id",
    "chat_visitor_id", "anonymous_id"],
  personKinds: ["user_id", "email"],
  corroboratedUnverified: true,
}

/** Key of an identifier (or of one owner's time slice of it): "kind:value", or "kind:value" SLICE n. */
export type NodeKey = string

/** Separates a value from its time-slice number; normalised values never hold control characters. */
const SLICE = "\u001f"

export const nodeKey = (kind: IdentifierKind, value: string): NodeKey => `${kind}:${value}`
export const kindOf = (key: NodeKey): IdentifierKind => key.slice(0, key.indexOf(":")) as IdentifierKind
/** A node key's parts: kind, normalised value and time slice (0 for the value itself). */
export const splitNodeKey = (key: NodeKey): { kind: IdentifierKind; value: string; slice: number } => {
  const base = baseOf(key)
  const colon = base.indexOf(":")
  return { kind: base.slice(0, colon) as IdentifierKind, value: base.slice(colon + 1), slice: base === key ? 0 : Number(key.slice(base.length + 1)) }
}

/**
 * The value an erasure leaves in place of a forgotten identifier's in the running graph (TenantGraph.forget) until the
 * tenant's graph is loaded again: no normalised value starts with a control character, so no sighting finds it.
 */
export const FORGOTTEN = "\u0000forgotten"

/** Whether a node key is one an erasure forgot (its rows are not stored). */
export const isForgotten = (key: NodeKey): boolean => key.startsWith(FORGOTTEN, key.indexOf(":") + 1)

/** The identifier a node stands for, without its time slice. */
export const baseOf = (key: NodeKey): NodeKey => {
  const cut = key.indexOf(SLICE)
  return cut === -1 ? key : key.slice(0, cut)
}

/** The rule of a typed value's link that joined two known people because the profile holds that value (joinUnderLimits). */
export const CORROBORATED = "same message; the profile holds this typed value on verified or stated evidence"

/**
 * The reason a link is refused when a value another person holds (a stronger kind with limit 1, a user id) is only
 * stated by a second one (an identify trait, a rectification): the statement does not change the value's owner.
 */
export const claimedReason = (kind: IdentifierKind, quietMs: number) =>
  `stated by a second ${kind.replace(/_/g, " ")} while another ${kind.replace(/_/g, " ")} holds it: it stays with its holder ` +
  "(a change of owner needs the value observed: with the new account, or alone after this statement" +
  `${quietMs > 0 ? ` once unused for ${Math.round(quietMs / 86_400_000)} days before it` : ""}, e.g. a call from a recycled number)`

/** Observations an operator made (identity/operations.ts): their links are decisions, not evidence, and no limit refuses them. */
export const OPERATOR = "operator:"

export interface Link {
  readonly a: NodeKey
  readonly b: NodeKey
  readonly messageId: string
  readonly timeMs: number
  readonly trust: Trust
  /** Why the two were linked: "same message" (the sender stated both). */
  readonly rule: string
}

export interface RefusedLink extends Link {
  readonly reason: string
}

export interface Resolution {
  /** Profile id of every node. */
  readonly profileOf: ReadonlyMap<NodeKey, string>
  /**
   * The node each message's anchor sighting resolved to, by message id. A message whose strongest identifier is a
   * shared value belongs to no person's profile: it gets a profile of its own ("message:ID").
   */
  readonly anchorOf: ReadonlyMap<string, NodeKey>
  readonly links: ReadonlyArray<Link>
  readonly refused: ReadonlyArray<RefusedLink>
  /** Values that stopped linking because several people share them, with the reason. */
  readonly shared: ReadonlyMap<NodeKey, string>
}

const compareLinks = (x: Link, y: Link): number =>
  TRUST_RANK[x.trust] - TRUST_RANK[y.trust] || x.timeMs - y.timeMs ||
  (x.messageId < y.messageId ? -1 : x.messageId > y.messageId ? 1 : 0) ||
  (x.a < y.a ? -1 : x.a > y.a ? 1 : 0) || (x.b < y.b ? -1 : x.b > y.b ? 1 : 0)

const weaker = (a: Trust, b: Trust): Trust => (TRUST_RANK[a] >= TRUST_RANK[b] ? a : b)

/** Profile ids are short, stable and opaque: derived from the tenant and the profile's oldest identifier. */
export const profileIdFor = (tenant: string, oldest: NodeKey): string =>
  `prof_${hash("sha256", `${tenant}\u0000${oldest}`, "base64url").slice(0, 22)}`

/** Text shaped like a profile id (what profileIdFor mints, with room for a longer hash later). */
export const isProfileId = (text: string): boolean => /^prof_[A-Za-z0-9_-]{10,40}$/.test(text)

interface Span {
  first: number
  last: number
}

/** A value a second person of `kind` only stated while the first held it (findSharedAndSlices): their links to it are refused. */
export interface Claim {
  readonly kind: IdentifierKind
  /** The claimant's value of that kind (a user id). */
  readonly by: string
}

/**
 * Why a value links nobody: it was seen with more people than a profile holds. The same words however its sightings
 * were batched: an online graph finds a value shared among the sightings it resolves together, and never reads them
 * all again (it links nothing), so a count or a kind named here would be those of the batch that found it, where a
 * rebuild names all of them (test/identity/batching-cases). `cdp identity explain` lists the links it refused.
 */
export const sharedReason = (rules: GraphRules): string =>
  `seen with more people than a profile holds (at most ${rules.personKinds.map((k) => `${rules.limits[k] ?? rules.defaultLimit} ${k}`).join(" and ")} values): shared by several people`

/**
 * For each value, who else it was seen with (per person kind, each with the time span of those sightings). A value
 * seen with more people than the kind's limit is either shared (spans overlap) or changed owner (spans follow one
 * another): then it is cut into one time slice per owner, each ending with that owner's last sighting. A change of
 * owner needs the value observed after the new owner's first sighting (observedAfterClaim); a value the second
 * person only stated (an identify trait, a rectification) stays whole with its holder, and the claim is refused
 * (claims, claimedReason).
 */
function* findSharedAndSlices(observations: ReadonlyArray<Observation>, rules: GraphRules): Steps<{
  shared: Map<NodeKey, string>
  slices: Map<NodeKey, Array<number>>
  claims: Map<NodeKey, Claim>
}> {
  const companions = new Map<NodeKey, Map<IdentifierKind, Map<string, Span>>>()
  const personKinds = new Set(rules.personKinds)
  const rank = new Map(rules.priority.map((kind, i) => [kind, i]))
  // Only a stronger kind tells people apart for a value: a user id seen with many e-mails is still one account.
  const stronger = (other: IdentifierKind, than: IdentifierKind) => (rank.get(other) ?? 99) < (rank.get(than) ?? 99)
  let step = 0
  for (const o of observations) {
    if (pauseAt(step++)) yield
    for (const s of o.sightings) {
      let key: NodeKey | undefined
      for (const other of o.sightings) {
        if (!personKinds.has(other.kind) || !stronger(other.kind, s.kind)) continue
        key ??= nodeKey(s.kind, s.value)
        const byKind = companions.get(key) ?? new Map<IdentifierKind, Map<string, Span>>()
        companions.set(key, byKind)
        const spans = byKind.get(other.kind) ?? new Map<string, Span>()
        byKind.set(other.kind, spans)
        const span = spans.get(other.value)
        if (span === undefined) spans.set(other.value, { first: o.timeMs, last: o.timeMs })
        else {
          span.first = Math.min(span.first, o.timeMs)
          span.last = Math.max(span.last, o.timeMs)
        }
      }
    }
  }
  const shared = new Map<NodeKey, string>()
  /** Values that would change owner, to check for an observation that vouches for it (observedAfterClaim). */
  const candidates: Array<OwnerChange> = []
  /** Slice start times (ascending) of values that changed owner. */
  const slices = new Map<NodeKey, Array<number>>()
  for (const [key, byKind] of companions) {
    if (pauseAt(step++)) yield
    for (const [kind, spans] of byKind) {
      const limit = rules.limits[kind] ?? rules.defaultLimit
      if (spans.size <= limit) continue
      const ordered = [...spans.values()].sort((x, y) => x.first - y.first || x.last - y.last)
      const sequential = ordered.every((span, i) => i === 0 || span.first > ordered[i - 1]!.last)
      // One change of owner is common (a recycled number, a family device handed on); more looks like sharing.
      if (sequential && limit === 1 && spans.size === 2) {
        // A slice ends with its owner's last proven use: a handed-on device is browsed before its new owner logs in.
        slices.set(key, ordered.slice(0, -1).map((span) => span.last + 1))
        const next = [...spans].find(([, span]) => span === ordered[1])!
        candidates.push({ key, kind, by: next[0], from: next[1].first, holderLast: ordered[0]!.last, quietMs: quietOf(rules, kindOf(key)) })
      } else {
        shared.set(key, sharedReason(rules))
        slices.delete(key)
        break
      }
    }
  }
  const claims = new Map<NodeKey, Claim>()
  if (candidates.length > 0) {
    const vouched = yield* observedAfterClaim(observations, candidates.filter((c) => slices.has(c.key)))
    for (const c of candidates) {
      if (!slices.has(c.key) || vouched.has(c.key)) continue
      slices.delete(c.key)
      claims.set(c.key, { kind: c.kind, by: c.by })
    }
  }
  return { shared, slices, claims }
}

/**
 * A value that would change owner: its new owner (`by`, of `kind`) first states it at `from`; its holder last at
 * `holderLast`; how long it must have gone unseen before `from` for a sighting of it alone to vouch (`quietMs`).
 */
interface OwnerChange {
  readonly key: NodeKey
  readonly kind: IdentifierKind
  readonly by: string
  readonly from: number
  readonly holderLast: number
  readonly quietMs: number
}

/**
 * The changes of owner that an observation vouches for: the value observed (verified trust) with the new owner's
 * account (a source that saw the address with it), or observed alone (a call from the number, a mail from or to the
 * address) at or after the new owner's first sighting when the value went unseen for its `quietMs` before that
 * sighting (a value in use is its holder's). A value only stated by a second user id (an identify trait, a
 * rectification), or stated alone after it, is no evidence that the first stopped holding it.
 */
function* observedAfterClaim(observations: ReadonlyArray<Observation>, changes: ReadonlyArray<OwnerChange>): Steps<Set<NodeKey>> {
  const vouched = new Set<NodeKey>()
  if (changes.length === 0) return vouched
  const byKey = new Map(changes.map((c) => [c.key, c]))
  const alone = new Set<NodeKey>()
  /** Values seen in the quiet period before their new owner's first sighting (the holder's last use counts too). */
  const inUse = new Set(changes.filter((c) => c.quietMs > 0 && c.holderLast >= c.from - c.quietMs).map((c) => c.key))
  let step = 0
  for (const o of observations) {
    if (pauseAt(step++)) yield
    for (const s of o.sightings) {
      const key = nodeKey(s.kind, s.value)
      const change = byKey.get(key)
      if (change === undefined) continue
      // The message's sighting of the value with no person of that kind, or with the new owner.
      const withNewOwner = o.sightings.some((other) => other.kind === change.kind && other.value === change.by)
      if (!withNewOwner && o.sightings.some((other) => other.kind === change.kind)) continue
      if (o.timeMs < change.from) {
        if (change.quietMs > 0 && o.timeMs >= change.from - change.quietMs) inUse.add(key)
        continue
      }
      if (s.trust !== "verified") continue
      if (withNewOwner) vouched.add(key)
      else alone.add(key)
    }
  }
  for (const key of alone) if (!inUse.has(key)) vouched.add(key)
  return vouched
}

/** The node a sighting at a time stands for: the value, or its owner's time slice. */
const sliceKey = (key: NodeKey, timeMs: number, slices: ReadonlyMap<NodeKey, ReadonlyArray<number>>): NodeKey => {
  const starts = slices.get(key)
  if (starts === undefined) return key
  let slice = 0
  while (slice < starts.length && timeMs >= starts[slice]!) slice++
  return slice === 0 ? key : `${key}${SLICE}${slice}`
}

/**
 * Picks the sighting that anchors a message: the most trusted, then the strongest kind, then the smallest value;
 * among those not `unlinkable` (shared, or removed by an operator) when the message has any.
 */
export const anchorChooser = (rules: GraphRules) => {
  const rank = new Map(rules.priority.map((kind, i) => [kind, i]))
  return (o: Observation, unlinkable?: (s: Sighting) => boolean): Sighting => {
    let best = o.sightings[0]!
    let bestOut = unlinkable?.(best) ?? false
    for (const s of o.sightings) {
      // A value nobody may link through never anchors a message that carries one that may be linked: anchored by it,
      // the message was a profile of its own and the person's other values it states were left behind.
      const out = s === best ? bestOut : unlinkable?.(s) ?? false
      // A value typed anywhere never anchors a message that also carries an observed one.
      const r = Number(out) - Number(bestOut) || TRUST_RANK[s.trust] - TRUST_RANK[best.trust] || (rank.get(s.kind) ?? 99) - (rank.get(best.kind) ?? 99)
      if (r < 0 || r === 0 && s.value < best.value) {
        best = s
        bestOut = out
      }
    }
    return best
  }
}

/** True when trust `a` is at least as strong as `b`. */
export const atLeastAsTrusted = (a: Trust, b: Trust): boolean => TRUST_RANK[a] <= TRUST_RANK[b]

/** Resolves observations of one tenant into profiles. Deterministic: the same set gives the same result. */
export const resolveGraph = (
  tenant: string,
  observations: ReadonlyArray<Observation>,
  rules: GraphRules = DEFAULT_GRAPH_RULES,
  /** Values already found shared among other observations (sharing only grows as sightings are added). */
  knownShared: ReadonlyMap<NodeKey, string> = new Map(),
  /** Pairs of identifiers an operator said are different people: no chain of links may join them. */
  separate: ReadonlyArray<readonly [NodeKey, NodeKey]> = [],
): Resolution => runSteps(resolveGraphSteps(tenant, observations, rules, knownShared, separate))

/** resolveGraph in steps (identity/slices.ts): a tenant's whole history is resolved without holding the event loop. */
export function* resolveGraphSteps(
  tenant: string,
  observations: ReadonlyArray<Observation>,
  rules: GraphRules = DEFAULT_GRAPH_RULES,
  knownShared: ReadonlyMap<NodeKey, string> = new Map(),
  separate: ReadonlyArray<readonly [NodeKey, NodeKey]> = [],
): Steps<Resolution> {
  const anchorOf = anchorChooser(rules)
  const present = observations.filter((o) => o.sightings.length > 0)
  const { shared, slices, claims } = yield* findSharedAndSlices(present, rules)
  for (const [key, reason] of knownShared) {
    if (!shared.has(key)) shared.set(key, reason)
    slices.delete(key)
    claims.delete(key)
  }
  const firstSeen = new Map<NodeKey, { timeMs: number; messageId: string }>()
  const bestTrust = new Map<NodeKey, Trust>()
  const links: Array<Link> = []
  const refused: Array<RefusedLink> = []
  const anchors = new Map<string, NodeKey>()
  const typedBy = new Map<NodeKey, TypedBy>()
  let step = 0
  for (const o of present) {
    if (pauseAt(step++)) yield
    const anchor = anchorOf(o, (s) => shared.has(nodeKey(s.kind, s.value)))
    const a = sliceKey(nodeKey(anchor.kind, anchor.value), o.timeMs, slices)
    anchors.set(o.messageId, shared.has(baseOf(a)) ? `message:${o.messageId}` : a)
    // Values this message's sender only claims (another person holds them): none of its links to them holds.
    let claimed: Map<NodeKey, string> | undefined
    if (claims.size > 0) {
      for (const s of o.sightings) {
        const key = nodeKey(s.kind, s.value)
        const claim = claims.get(key)
        if (claim !== undefined && o.sightings.some((c) => c.kind === claim.kind && c.value === claim.by)) (claimed ??= new Map()).set(key, claimedReason(claim.kind, quietOf(rules, s.kind)))
      }
    }
    for (const s of o.sightings) {
      const b = sliceKey(nodeKey(s.kind, s.value), o.timeMs, slices)
      if (s.trust === "unverified" && b !== a) {
        const typed = typedBy.get(b) ?? { senders: new Set<NodeKey>(), observed: true }
        typedBy.set(b, typed)
        typed.senders.add(a)
        // Typed where nobody is observed (a form that states only typed values): nothing vouches for the sender.
        if (anchor.trust === "unverified") typed.observed = false
      }
      const trust = bestTrust.get(b)
      if (trust === undefined || TRUST_RANK[s.trust] < TRUST_RANK[trust]) bestTrust.set(b, s.trust)
      const seen = firstSeen.get(b)
      if (seen === undefined || o.timeMs < seen.timeMs || o.timeMs === seen.timeMs && o.messageId < seen.messageId) {
        firstSeen.set(b, { timeMs: o.timeMs, messageId: o.messageId })
      }
      if (b === a) continue
      const link: Link = { a, b, messageId: o.messageId, timeMs: o.timeMs, trust: weaker(anchor.trust, s.trust), rule: o.messageId.startsWith(OPERATOR) ? "operator" : "same message" }
      const sharedReason = shared.get(baseOf(a)) ?? shared.get(baseOf(b)) ?? claimed?.get(baseOf(a)) ?? claimed?.get(baseOf(b))
      if (sharedReason !== undefined) refused.push({ ...link, reason: sharedReason })
      else links.push(link)
    }
  }
  yield* sortSteps(links, compareLinks)
  const corroboratedLinks = new Set<Link>()
  const clusters = yield* joinUnderLimits(bestTrust, links, rules, refused, separate, typedBy, corroboratedLinks)
  if (corroboratedLinks.size > 0) links.forEach((l, i) => { if (corroboratedLinks.has(l)) links[i] = { ...l, rule: CORROBORATED } })
  const profileOf = new Map<NodeKey, string>()
  for (const anchor of anchors.values()) {
    if (anchor.startsWith("message:")) profileOf.set(anchor, profileIdFor(tenant, anchor))
    if (pauseAt(step++)) yield
  }
  for (const members of clusters) {
    if (pauseAt(step++)) yield
    let oldest = members[0]!
    for (const m of members) {
      const x = firstSeen.get(m)!
      const y = firstSeen.get(oldest)!
      if (x.timeMs < y.timeMs || x.timeMs === y.timeMs && (x.messageId < y.messageId || x.messageId === y.messageId && m < oldest)) oldest = m
    }
    const id = profileIdFor(tenant, oldest)
    for (const m of members) profileOf.set(m, id)
  }
  return { profileOf, anchorOf: anchors, links, refused, shared }
}

interface Cluster {
  readonly nodes: Array<NodeKey>
  /** Distinct identifiers (time slices of one value count once) per kind. */
  readonly byKind: Map<IdentifierKind, Set<NodeKey>>
  /** Holds a person kind seen at more than unverified trust (a known person). */
  known: boolean
}

/** Who typed a value (unverified sightings): the anchors of those messages, and whether each anchor was observed. */
interface TypedBy {
  readonly senders: Set<NodeKey>
  observed: boolean
}

/**
 * Adds links in their ranked order (union-find, smaller cluster into larger), refusing one that would give a profile
 * more values of a kind than its limit, or that would join two known people on an unverified value (a value typed
 * into a pre-chat form may bring an anonymous visitor into a profile, never join two profiles). Returns the clusters.
 *
 * One exception, when the rules allow it: a typed value that is no person kind (a phone or handle under a mail's
 * signature) joins its sender to a known profile when that profile holds the value through a verified or stated link
 * (the customer gave the phone in their account, or wrote from it as a caller id with their account's other values),
 * every message that typed it has an observed sender (a mail's From), and those senders are one person as far as the
 * trusted links tell (one profile besides the value's own). An office number signed by several staff, or a value
 * only ever typed, still joins no two known people.
 */
function* joinUnderLimits(
  nodes: ReadonlyMap<NodeKey, Trust>,
  ranked: ReadonlyArray<Link>,
  rules: GraphRules,
  refused: Array<RefusedLink>,
  separate: ReadonlyArray<readonly [NodeKey, NodeKey]>,
  typedBy: ReadonlyMap<NodeKey, TypedBy> = new Map(),
  /** Filled with the typed links that joined two known people so (their provenance says why). */
  corroboratedLinks: Set<Link> = new Set(),
): Steps<Array<ReadonlyArray<NodeKey>>> {
  const personKinds = new Set(rules.personKinds)
  /** Nodes a verified or stated link put in their cluster (links are ranked trust first: all known before typed ones). */
  const vouched = new Set<NodeKey>()
  /** Typed values that may join their one sender to the profile vouching for them (decided once trusted links are in). */
  let corroborated: Set<NodeKey> | undefined
  const parent = new Map<NodeKey, NodeKey>()
  const clusters = new Map<NodeKey, Cluster>()
  let step = 0
  for (const [n, trust] of nodes) {
    if (pauseAt(step++)) yield
    parent.set(n, n)
    clusters.set(n, {
      nodes: [n], byKind: new Map([[kindOf(n), new Set([baseOf(n)])]]),
      known: personKinds.has(kindOf(n)) && trust !== "unverified",
    })
  }
  const find = (n: NodeKey): NodeKey => {
    let root = n
    while (parent.get(root) !== root) root = parent.get(root)!
    for (let cur = n; cur !== root;) {
      const next = parent.get(cur)!
      parent.set(cur, root)
      cur = next
    }
    return root
  }
  function* corroborate(): Steps<Set<NodeKey>> {
    const out = new Set<NodeKey>()
    if (!rules.corroboratedUnverified) return out
    for (const [value, typed] of typedBy) {
      if (pauseAt(step++)) yield
      if (!typed.observed || personKinds.has(kindOf(value)) || !vouched.has(value)) continue
      const profiles = new Set([find(value)])
      for (const sender of typed.senders) if (parent.has(sender)) profiles.add(find(sender))
      if (profiles.size <= 2) out.add(value)
    }
    return out
  }
  for (const link of ranked) {
    if (pauseAt(step++)) yield
    if (link.trust === "unverified") corroborated ??= yield* corroborate()
    const ra = find(link.a)
    const rb = find(link.b)
    if (link.trust !== "unverified" && ra === rb) {
      vouched.add(link.a)
      vouched.add(link.b)
    }
    if (ra === rb) continue
    const [big, small] = clusters.get(ra)!.nodes.length >= clusters.get(rb)!.nodes.length ? [ra, rb] : [rb, ra]
    const into = clusters.get(big)!
    const from = clusters.get(small)!
    const kept = separate.find(([x, y]) => {
      const rx = parent.has(x) ? find(x) : undefined
      const ry = parent.has(y) ? find(y) : undefined
      return rx !== undefined && ry !== undefined && (rx === ra && ry === rb || rx === rb && ry === ra)
    })
    const reason = kept !== undefined
      ? `an operator separated ${kept[0]} and ${kept[1]}`
      : link.trust === "unverified" && into.known && from.known && !corroborated?.has(link.b)
        ? "an unverified value may not join two known people"
        : link.rule === "operator" ? undefined : overLimit(into, from, rules)
    if (reason !== undefined) {
      refused.push({ ...link, reason })
      continue
    }
    if (link.trust !== "unverified") {
      vouched.add(link.a)
      vouched.add(link.b)
    } else if (into.known && from.known) corroboratedLinks.add(link)
    parent.set(small, big)
    for (const n of from.nodes) into.nodes.push(n)
    for (const [kind, values] of from.byKind) {
      const mine = into.byKind.get(kind)
      if (mine === undefined) into.byKind.set(kind, values)
      else for (const v of values) mine.add(v)
    }
    into.known ||= from.known
    clusters.delete(small)
  }
  return [...clusters.values()].map((c) => c.nodes)
}

/** Why joining two clusters would break a per-profile limit, or undefined. */
const overLimit = (into: Cluster, from: Cluster, rules: GraphRules): string | undefined => {
  for (const [kind, values] of from.byKind) {
    const mine = into.byKind.get(kind)
    let total = mine?.size ?? 0
    for (const v of values) if (mine === undefined || !mine.has(v)) total++
    const limit = rules.limits[kind] ?? rules.defaultLimit
    if (total > limit) return `the profile would hold ${total} ${kind} values (limit ${limit})`
  }
  return undefined
}
