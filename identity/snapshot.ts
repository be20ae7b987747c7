// A compact snapshot of the online identity graph (every tenant's TenantGraph state, v8-serialised typed arrays and
// string tables: identifiers and parts, no messages, so its size and the time to load it follow people, not
// messages) in identity_snapshots, so that a restart loads it plus the observations stored since, instead of
// every observation. Only an optimisation: the graph is a function of identity_observations and identity_operations,
// and any doubt about a snapshot (none, partial, checksum or format wrong, made with other graph rules or operators'
// decisions, holding a value today's block rules refuse, or missing one they no longer refuse) means the full load,
// and the start logs one line saying why. After a crash the newest complete snapshot is used with every observation
// stored since its time (less an overlap: a replayed observation changes nothing), so nothing stored is lost whatever
// happened after the snapshot.
import { hash } from "node:crypto"
import { deserialize, serialize } from "node:v8"
import { Effect } from "effect"
import { loadObservations, loadObservationsPage, loadOperations, type OperationRow } from "../warehouse/identity.ts"
import { loadNewestSnapshot, storeSnapshot } from "../warehouse/identity-snapshots.ts"
import { nextVersion, versionMs, witnessWrittenAt } from "../warehouse/versions.ts"
import { type GraphRules, type Observation, OPERATOR } from "./graph.ts"
import type { CompiledBlockRules } from "./guardrails.ts"
import type { IdentifierKind } from "./normalise.ts"
import { type ReadBack, resolveOnline } from "./online.ts"
import { operatorInput } from "./operations.ts"
import { type GraphState, IdentityResolver, type TenantGraph } from "./resolver.ts"
import { inSlices, pauseAt, sortSteps, type Steps } from "./slices.ts"

// 2: the graph holds no messages (format 1 snapshots held every message id; they are not used, the graph is loaded whole).
// 3: with the window of recent messages (hashes of their ids), so a message sent again after a restart is recognised.
const FORMAT = 3

/** Observations a full load reads (and resolves) at a time: its memory, however many are stored. */
const FULL_LOAD_PAGE = 200_000

/** Observations stored this long before a snapshot's time are read again (a clock step back); replays change nothing. */
const OVERLAP_MS = 60_000

/** A stored sighting today's block rules leave out: [tenant, kind, value]. */
type Dropped = readonly [string, string, string]

interface SnapshotBody {
  readonly format: number
  readonly graphs: ReadonlyArray<GraphState>
  readonly dropped: ReadonlyArray<Dropped>
  /** The block rules' digest it was made under (absent in snapshots of earlier versions). */
  readonly blockRules?: string
}

/** The identity graph in memory, and what a snapshot of it must record. */
export interface LoadedIdentity {
  readonly resolver: IdentityResolver
  /** Stored sightings the block rules left out when loading (a snapshot is not used once one of them is allowed again). */
  readonly dropped: ReadonlyArray<Dropped>
  /** The graph rules and operators' decisions the graph was made with. */
  readonly fingerprint: string
  /** The operators' decisions the graph was made with (what `fingerprint` digests). */
  readonly operations: ReadonlyArray<OperationRow>
  readonly source: "snapshot" | "observations"
  /** Why no snapshot was used, when one was asked for and the graph was loaded from every observation. */
  readonly snapshotNotUsed?: string
  /** Observations read from identity_observations (all of them, or those stored since the snapshot). */
  readonly observationsRead: number
  /**
   * Every observation stored before this time is in the graph: the time the last read of identity_observations
   * began. Observations this process resolves itself are in it too; what other pipeline members (N workers) stored
   * since is read by catchUp.
   */
  readonly syncedUntilMs: number
  /** What resolving against the warehouse reads back with (block rules, operators' links). */
  readonly readBack: ReadBack
}

/**
 * What a graph was made with, in three parts a start can tell apart (to say why a snapshot is not used): the snapshot
 * format, the graph rules, and the operators' decisions that change the graph. A dismissed suggestion changes nothing
 * in it and is recorded without a reload, so counting it made the running graph's next snapshots look outdated.
 */
export const fingerprintOf = (rules: GraphRules, operations: ReadonlyArray<OperationRow>): string => {
  const decisions = operations.filter((o) => o.kind !== "dismiss").map((o) => [o.tenant, o.opId, o.kind, o.a, o.b, o.atMs])
  const digest = (x: unknown) => hash("sha256", JSON.stringify(x), "hex").slice(0, 32)
  return `v${FORMAT} ${digest(rules)} ${digest(decisions)}`
}

/** Why a snapshot made with `stored` cannot stand for a graph made with `now`, or undefined when it can. */
const fingerprintMismatch = (stored: string, now: string): string | undefined => {
  if (stored === now) return undefined
  const [format, rules, decisions] = stored.split(" ")
  const [formatNow, rulesNow] = now.split(" ")
  if (decisions === undefined || format !== formatNow) return "it was written by another version of cdp (another snapshot format)"
  if (rules !== rulesNow) return "it was made with other identity graph rules"
  return "operators' identity decisions changed after it was taken"
}

const byTime = (x: Observation, y: Observation) => x.timeMs - y.timeMs || (x.messageId < y.messageId ? -1 : x.messageId > y.messageId ? 1 : 0)

/**
 * Stored observations per tenant in time order (the order the online path is fastest in), without the sightings
 * today's block rules refuse (a value blocked after it was stored links nothing); operators' links are decisions and
 * are kept whole.
 */
const byTenant = (
  stored: ReadonlyArray<Observation & { readonly tenant?: string }>, tenantOf: (o: Observation & { readonly tenant?: string }) => string,
  blocked: CompiledBlockRules, dropped: Array<Dropped>,
): Effect.Effect<Map<string, Array<Observation>>> => inSlices(byTenantSteps(stored, tenantOf, blocked, dropped))

/** byTenant in steps (identity/slices.ts): a page of a full load is 200,000 observations. */
function* byTenantSteps(
  stored: ReadonlyArray<Observation & { readonly tenant?: string }>, tenantOf: (o: Observation & { readonly tenant?: string }) => string,
  blocked: CompiledBlockRules, dropped: Array<Dropped>,
): Steps<Map<string, Array<Observation>>> {
  const out = new Map<string, Array<Observation>>()
  let step = 0
  for (const o of stored) {
    if (pauseAt(step++)) yield
    const tenant = tenantOf(o)
    let kept = o.sightings
    if (!o.messageId.startsWith(OPERATOR)) {
      kept = o.sightings.filter((s) => {
        if (blocked.reasonFor(s.kind, s.value, tenant) === undefined) return true
        dropped.push([tenant, s.kind, s.value])
        return false
      })
    }
    const obs: Observation = { messageId: o.messageId, timeMs: o.timeMs, sightings: kept }
    const list = out.get(tenant)
    if (list === undefined) out.set(tenant, [obs])
    else list.push(obs)
  }
  for (const list of out.values()) yield* sortSteps(list, byTime)
  return out
}

/** A snapshot's graph brought up to date, or why no snapshot could be used. */
type SnapshotOutcome = { readonly loaded: LoadedIdentity } | { readonly notUsed: string }
const used = (loaded: LoadedIdentity): SnapshotOutcome => ({ loaded })
const notUsed = (why: string): SnapshotOutcome => ({ notUsed: why })

/** The graph from the newest usable snapshot and the observations stored since, or why there is none to use. */
const fromSnapshot = (rules: GraphRules, blocked: CompiledBlockRules, operations: ReadonlyArray<OperationRow>, fingerprint: string, overlapMs: number) =>
  Effect.gen(function* () {
    const { snapshot: stored, passedOver } = yield* loadNewestSnapshot()
    const newer = passedOver.length === 0 ? "" : ` (${passedOver.join("; ")})`
    if (stored === undefined) return notUsed(passedOver.length === 0 ? "none is stored" : `none is complete${newer}`)
    const taken = `the snapshot taken ${new Date(stored.takenAtMs).toISOString()}`
    // Taken after its writer stored what it covers: this process's versions come after those rows' (see versions.ts).
    witnessWrittenAt(stored.takenAtMs)
    const mismatch = fingerprintMismatch(stored.fingerprint, fingerprint)
    if (mismatch !== undefined) return notUsed(`${mismatch}: ${taken}${newer}`)
    const resolver = new IdentityResolver(rules, operatorInput(operations).decisions)
    const body = readBody(stored.bytes)
    if (typeof body === "string") return notUsed(`${body}: ${taken}`)
    const refused = yield* inSlices(restoreInto(resolver, body, blocked))
    if (refused !== undefined) return notUsed(`${taken} ${refused}`)
    const dropped = [...body.dropped]
    const syncedUntilMs = Date.now()
    const readBack: ReadBack = { blocked, operatorLinks: operatorInput(operations).links }
    const since = yield* loadObservations(stored.coversUntilMs - overlapMs)
    for (const [tenant, observations] of yield* byTenant(since as ReadonlyArray<Observation & { readonly tenant: string }>, (o) => o.tenant!, blocked, dropped)) {
      yield* resolveOnline(resolver.graph(tenant), tenant, observations, readBack)
    }
    yield* Effect.logInfo(`identity graph loaded from ${taken} and ${since.length} observations stored since${newer}`)
    return used({ resolver, dropped, fingerprint, operations, source: "snapshot", observationsRead: since.length, syncedUntilMs, readBack })
  })

/**
 * Puts the snapshot's graphs into the resolver, or says why they cannot stand for today's (block rules that refuse a
 * value it holds, or allow one it left out). Kinds only in the answer: values are personal data, and it is logged.
 * A snapshot made under the block rules in force is not checked value by value: a blocked value it holds came from
 * an operator's link (kept whole), which a full load keeps too; checking it refused every snapshot after such a link.
 */
function* restoreInto(resolver: IdentityResolver, body: SnapshotBody, blocked: CompiledBlockRules): Steps<string | undefined> {
  const sameRules = body.blockRules === blocked.digest
  let step = 0
  try {
    for (const state of body.graphs) {
      const graph = yield* resolver.restoreSteps(state)
      if (sameRules) continue
      for (const { kind, value } of graph.identifiers()) {
        if (pauseAt(step++)) yield
        if (blocked.reasonFor(kind as IdentifierKind, value, state.tenant) !== undefined) return `holds an identifier of kind ${kind} that today's block rules refuse`
      }
    }
  } catch {
    return "holds a graph this version cannot restore"
  }
  if (sameRules) return undefined
  for (const [tenant, kind, value] of body.dropped) {
    if (blocked.reasonFor(kind as IdentifierKind, value, tenant) === undefined) return `left out an identifier of kind ${kind} that today's block rules allow`
  }
  return undefined
}

/** A snapshot's body, or why it cannot be read. */
const readBody = (bytes: Buffer): SnapshotBody | string => {
  try {
    const body = deserialize(bytes) as SnapshotBody
    return body.format === FORMAT ? body : `its format is ${String(body.format)}, this version reads ${FORMAT}`
  } catch {
    return "its bytes could not be read as a snapshot"
  }
}

/**
 * The identity graph of every tenant: from the newest snapshot when `useSnapshot` and it can be trusted, otherwise
 * from every stored observation and operators' decision.
 */
export const loadIdentity = Effect.fn("loadIdentity")(function* (
  rules: GraphRules, blocked: CompiledBlockRules, useSnapshot: boolean, overlapMs: number = OVERLAP_MS,
  /** Observations a full load reads at a time. */
  fullLoadPage: number = FULL_LOAD_PAGE,
) {
  const operations = yield* loadOperations()
  const fingerprint = fingerprintOf(rules, operations)
  let snapshotNotUsed: string | undefined
  if (useSnapshot) {
    const restored = yield* fromSnapshot(rules, blocked, operations, fingerprint, overlapMs).pipe(
      Effect.catch((e) => Effect.succeed(notUsed(`it could not be read (${e._tag})`))),
    )
    if ("loaded" in restored) return restored.loaded
    snapshotNotUsed = restored.notUsed
    // One line on why a start reads everything (the figure a restart's time depends on); info, so one-shot commands
    // (which log warnings only) stay quiet on a first run.
    yield* Effect.logInfo(`identity snapshot not used, loading every stored observation: ${snapshotNotUsed}`)
  }
  // Page by page in key order (the graph is a function of the set of observations, whatever the order), so a full load
  // holds one page, not every observation; a page's re-resolutions read back from the warehouse like any batch's.
  // Unfiltered here: the block rules are applied (and what they leave out recorded) by byTenant.
  const syncedUntilMs = Date.now()
  const { decisions, links } = operatorInput(operations)
  const resolver = new IdentityResolver(rules, decisions)
  const readBack: ReadBack = { blocked, operatorLinks: links }
  const dropped: Array<Dropped> = []
  let read = 0
  let after: { tenant: string; messageId: string } | undefined
  for (;;) {
    const page = yield* loadObservationsPage(after, fullLoadPage)
    if (page.length === 0) break
    read += page.length
    const last = page[page.length - 1]!
    after = { tenant: last.tenant, messageId: last.messageId }
    for (const [tenant, observations] of yield* byTenant(page as ReadonlyArray<Observation & { readonly tenant: string }>, (o) => o.tenant!, blocked, dropped)) {
      yield* resolveOnline(resolver.graph(tenant), tenant, observations, readBack)
    }
    if (page.length < fullLoadPage) break
  }
  // Operators' links are decisions, kept whole (not stored as observations).
  for (const [tenant, observations] of links) yield* resolveOnline(resolver.graph(tenant), tenant, observations, readBack)
  return {
    resolver, dropped, fingerprint, operations, source: "observations", observationsRead: read, syncedUntilMs, readBack,
    ...(snapshotNotUsed === undefined ? {} : { snapshotNotUsed }),
  } satisfies LoadedIdentity
})

/** One tenant's graph loaded apart from the running one, and what it was made with. */
export interface TenantIdentity {
  readonly tenant: string
  readonly graph: TenantGraph
  readonly operations: ReadonlyArray<OperationRow>
  readonly links: ReadonlyArray<Observation>
  readonly dropped: ReadonlyArray<Dropped>
  /** Every observation of the tenant stored before this time is in the graph. */
  readonly syncedUntilMs: number
}

/**
 * One tenant's graph from every stored observation of it and its operators' decisions, as loadIdentity makes every
 * tenant's: after an operator's decision only that tenant's graph changes, so only its observations are read, and
 * without holding up the running graph (installTenant puts it in).
 */
export const loadTenantIdentity = Effect.fn("loadTenantIdentity")(function* (
  rules: GraphRules, blocked: CompiledBlockRules, tenant: string, fullLoadPage: number = FULL_LOAD_PAGE,
) {
  const operations = (yield* loadOperations()).filter((o) => o.tenant === tenant)
  const syncedUntilMs = Date.now()
  const { decisions, links } = operatorInput(operations)
  const resolver = new IdentityResolver(rules, decisions)
  const own = links.get(tenant) ?? []
  const readBack: ReadBack = { blocked, operatorLinks: new Map([[tenant, own]]) }
  const dropped: Array<Dropped> = []
  let after: { tenant: string; messageId: string } | undefined
  for (;;) {
    const page = yield* loadObservationsPage(after, fullLoadPage, tenant)
    if (page.length === 0) break
    const last = page[page.length - 1]!
    after = { tenant: last.tenant, messageId: last.messageId }
    for (const [t, observations] of yield* byTenant(page as ReadonlyArray<Observation & { readonly tenant: string }>, (o) => o.tenant!, blocked, dropped)) {
      yield* resolveOnline(resolver.graph(t), t, observations, readBack)
    }
    if (page.length < fullLoadPage) break
  }
  if (own.length > 0) yield* resolveOnline(resolver.graph(tenant), tenant, own, readBack)
  return { tenant, graph: resolver.graph(tenant), operations, links: own, dropped, syncedUntilMs } satisfies TenantIdentity
})

/** Operations in the order loadOperations reads them (tenant, time, id), so a fingerprint made of them is the same. */
const byOperationOrder = (x: OperationRow, y: OperationRow) =>
  (x.tenant < y.tenant ? -1 : x.tenant > y.tenant ? 1 : 0) || x.atMs - y.atMs || (x.opId < y.opId ? -1 : x.opId > y.opId ? 1 : 0)

/** Stored observations of a tenant, as loadObservations reads them. */
export type TenantObservation = Observation & { readonly tenant: string }

/**
 * Adds to a tenant's graph loaded apart (before installTenant, outside the stage's turns) observations of the tenant
 * stored while it loaded, as installTenant adds them.
 */
export const catchUpTenant = Effect.fn("catchUpTenant")(function* (
  fresh: TenantIdentity, landed: ReadonlyArray<TenantObservation>, blocked: CompiledBlockRules,
) {
  const dropped = [...fresh.dropped]
  const readBack: ReadBack = { blocked, operatorLinks: new Map([[fresh.tenant, fresh.links]]) }
  for (const [t, observations] of yield* byTenant(landed, (o) => o.tenant!, readBack.blocked, dropped)) {
    if (t === fresh.tenant) yield* resolveOnline(fresh.graph, t, observations, readBack)
  }
  return { ...fresh, dropped } satisfies TenantIdentity
})

/**
 * Puts a tenant's graph loaded apart into the running one (in the stage's whole-graph turn), then adds what the tenant stored
 * while it loaded (batches went on resolving into the graph it replaces): `landed` when the caller knows it (the only
 * process storing), else what was stored since the load began (less the overlap). The other tenants' graphs are
 * untouched; the fingerprint is made of exactly the decisions the graph now holds, so a snapshot of it is used by the
 * next start.
 */
export const installTenant = Effect.fn("installTenant")(function* (
  loaded: LoadedIdentity, fresh: TenantIdentity, rules: GraphRules, overlapMs: number = OVERLAP_MS, landed?: ReadonlyArray<TenantObservation>,
) {
  const { tenant } = fresh
  const since = landed ?? (yield* loadObservations(fresh.syncedUntilMs - overlapMs, tenant))
  loaded.resolver.adopt(tenant, fresh.graph, operatorInput(fresh.operations).decisions.get(tenant))
  const operatorLinks = new Map(loaded.readBack.operatorLinks)
  if (fresh.links.length > 0) operatorLinks.set(tenant, fresh.links)
  else operatorLinks.delete(tenant)
  const readBack: ReadBack = { ...loaded.readBack, operatorLinks }
  const operations = [...loaded.operations.filter((o) => o.tenant !== tenant), ...fresh.operations].sort(byOperationOrder)
  const dropped = [...loaded.dropped.filter(([t]) => t !== tenant), ...fresh.dropped]
  for (const [t, observations] of yield* byTenant(since as ReadonlyArray<Observation & { readonly tenant: string }>, (o) => o.tenant!, readBack.blocked, dropped)) {
    yield* resolveOnline(loaded.resolver.graph(t), t, observations, readBack)
  }
  const unique = [...new Map(dropped.map((d) => [d.join("\u0000"), d])).values()]
  return { ...loaded, readBack, operations, fingerprint: fingerprintOf(rules, operations), dropped: unique } satisfies LoadedIdentity
})

/**
 * Brings a loaded graph up to date with the observations stored since it was last read (less the overlap), in
 * place: what other pipeline members resolved meanwhile, e.g. after a rebalance gave this member their people.
 * Reads only what is recent, so it costs the same however large identity_observations is; its own observations
 * come back too and change nothing. Operators' decisions and erasures are not caught up this way: they reload.
 */
export const catchUp = Effect.fn("identityCatchUp")(function* (loaded: LoadedIdentity, blocked: CompiledBlockRules, overlapMs: number = OVERLAP_MS) {
  const syncedUntilMs = Date.now()
  const since = yield* loadObservations(loaded.syncedUntilMs - overlapMs)
  const dropped = [...loaded.dropped]
  for (const [tenant, observations] of yield* byTenant(since as ReadonlyArray<Observation & { readonly tenant: string }>, (o) => o.tenant!, blocked, dropped)) {
    yield* resolveOnline(loaded.resolver.graph(tenant), tenant, observations, loaded.readBack)
  }
  // The overlap reads some sightings again: each left-out one is recorded once, or a long-running member's list grows.
  const unique = [...new Map(dropped.map((d) => [d.join("\u0000"), d])).values()]
  return { ...loaded, dropped: unique, observationsRead: since.length, syncedUntilMs } satisfies LoadedIdentity
})

/**
 * Stores a snapshot of the graph as it is now: it covers what the graph was last synchronised with (callers catch
 * up first), not the time of writing, because other pipeline members may have stored observations this graph
 * has not read.
 */
export const writeSnapshot = Effect.fn("writeSnapshot")(function* (loaded: LoadedIdentity) {
  const coversUntilMs = loaded.syncedUntilMs
  const dropped = [...new Map(loaded.dropped.map((d) => [d.join("\u0000"), d])).values()]
  const body: SnapshotBody = { format: FORMAT, graphs: yield* inSlices(loaded.resolver.toStatesSteps()), dropped, blockRules: loaded.readBack.blocked.digest }
  const bytes = serialize(body)
  // Its time by the version clock: no earlier than any version this process wrote, which a start from it witnesses.
  yield* storeSnapshot({ takenAtMs: versionMs(nextVersion()), coversUntilMs, fingerprint: loaded.fingerprint, bytes })
  return bytes.length
})
