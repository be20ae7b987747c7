// The identity stage of the pipeline: each message's sightings join the tenant's graph, the message gets its
// person's profile, and every earlier message whose profile moved (a merge, a split) is recorded, so `events`
// shows current profiles. The graph holds identifiers, not messages: earlier messages are read back by identifier
// (identity/online.ts). When the stage starts, the graph comes from the newest snapshot plus the observations
// stored since (identity/snapshot.ts), or from every stored observation; a snapshot is written every so many
// messages or minutes, after a reload, and when the stage closes.
import { Context, Effect } from "effect"
import type { CanonicalEvent } from "../ingest/message.ts"
import { deadLetter, ok, type Stage } from "../ingest/stage.ts"
import {
  type LinkRow, type MergeRow, type MovedRow, type NodeRow, type ObservationRow, storeIdentity,
} from "../warehouse/identity.ts"
import { backgroundReads, Warehouse, type WarehouseRejectedRows, type WarehouseUnavailable, type WarehouseQueryError } from "../warehouse/warehouse.ts"
import { DEFAULT_SOURCE_TRUST, DEFAULT_TRAIT_IDENTIFIERS, type ExtractConfig, extractSightings } from "./extract.ts"
import {
  baseOf, DEFAULT_GRAPH_RULES, type GraphRules, isForgotten, type Link, type NodeKey, type Observation, profileIdFor, type RefusedLink,
  splitNodeKey,
} from "./graph.ts"
import { makeGraphTurns } from "./graph-turns.ts"
import { compileBlockRules } from "./guardrails.ts"
import { DEFAULT_NORMALISE_OPTIONS } from "./normalise.ts"
import { resolveOnline, storedMoves } from "./online.ts"
import type { ResolveResult } from "./resolver.ts"
import { eachStep, inSlices, mapSteps, type Steps } from "./slices.ts"
import {
  catchUp as catchUpGraph, catchUpTenant, installTenant, type LoadedIdentity, loadIdentity, loadTenantIdentity, type TenantIdentity,
  type TenantObservation, writeSnapshot,
} from "./snapshot.ts"

export interface IdentityConfig {
  readonly extract: ExtractConfig
  readonly rules: GraphRules
}

export const defaultIdentityConfig = (phoneRegions: ReadonlyArray<string> = []): IdentityConfig => ({
  extract: {
    traitIdentifiers: DEFAULT_TRAIT_IDENTIFIERS,
    sourceTrust: DEFAULT_SOURCE_TRUST,
    normalise: { ...DEFAULT_NORMALISE_OPTIONS, phoneRegions },
    blocked: compileBlockRules(),
  },
  rules: DEFAULT_GRAPH_RULES,
})

/** Stored observations a tenant's reload reads at a time (see reloadTenant). */
const RELOAD_PAGE = 20_000

/** How many times a tenant's reload adds what landed while it loaded before it takes its whole-graph turn for the rest (see reloadTenant). */
const CATCH_UP_ROUNDS = 3

/** Event times as the edge writes them (ISO-8601 UTC); anything else cannot be placed in time or stored. */
const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/

/** Rows of one resolution not yet stored: kept until a store succeeds, so a retried batch loses none of them. */
interface Pending {
  observations: Array<ObservationRow>
  links: Array<LinkRow>
  moved: Map<string, MovedRow>
  merges: Array<MergeRow>
  nodes: Map<string, NodeRow>
}

/** Why a stored link was withdrawn: readers (`cdp identity explain`, claimed flags) read only "linked" and "refused". */
export const WITHDRAWN_REASON = "no longer made: a later resolution links this message's identifiers otherwise (a value cut into time slices, or found shared)"

/**
 * Provenance rows of a resolution: each link that holds, each refused one with its reason, and each stored one no
 * longer made (withdrawn) (in steps: identity/slices.ts).
 */
export function* linkRows(tenant: string, r: ResolveResult): Steps<Array<LinkRow>> {
  const row = (l: Link | RefusedLink, status: LinkRow["status"], reason: string): LinkRow => ({
    tenant, a: l.a, b: l.b, messageId: l.messageId, timeMs: l.timeMs, trust: l.trust, rule: l.rule, status, reason,
  })
  // A forgotten identifier (an erasure under way: TenantGraph.forget) is not stored again.
  const kept = (l: Link) => !isForgotten(l.a) && !isForgotten(l.b)
  const linked = yield* mapSteps(r.links.filter(kept), (l) => row(l, "linked", ""))
  const refused = yield* mapSteps(r.refused.filter(kept), (l) => row(l, "refused", l.reason))
  const withdrawn = yield* mapSteps(r.withdrawn.filter(kept), (l) => row(l, "withdrawn", WITHDRAWN_REASON))
  return linked.concat(refused, withdrawn)
}

/** Each identifier of the re-resolved parts with its profile, keyed for de-duplication across batches (in steps). */
export function* nodeRows(tenant: string, r: ResolveResult): Steps<Array<[string, NodeRow]>> {
  const rows: Array<[string, NodeRow]> = []
  yield* eachStep(r.nodes, ([key, profileId]) => {
    if (isForgotten(key)) return
    const { kind, value, slice } = splitNodeKey(key)
    rows.push([`${tenant}\u0000${key}`, { tenant, kind, value, slice, profileId, shared: r.shared.get(baseOf(key)) ?? "" }])
  })
  return rows
}

/** When the stage writes a snapshot of the graph (besides after a reload and when it closes). */
export interface SnapshotPolicy {
  /** After this many messages since the last one (default 100,000). */
  readonly everyMessages: number
  /**
   * Or this long after the last one, when at least `minMessages` came since (default 10 minutes, 1,000 messages: a
   * restart reads fewer again quickly, and a snapshot costs about as much as the whole graph is big).
   */
  readonly everyMs: number
  readonly minMessages: number
}

export const DEFAULT_SNAPSHOT_POLICY: SnapshotPolicy = { everyMessages: 100_000, everyMs: 10 * 60_000, minMessages: 1_000 }

/** Whom an erasure takes out of the running graph: the subject's profiles, and their own identifiers as node keys. */
export interface ErasedIdentity {
  /** The erased profiles' ids. */
  readonly profileIds: ReadonlyArray<string>
  /**
   * More erased profiles, known by keyed hashes of their ids (consent/keys.ts identifierKey: a worker told by an
   * erasure's notice, which carries no profile id in the clear), with the hash a profile id is compared by.
   */
  readonly profileHashes?: { readonly erased: ReadonlySet<string>; readonly hashOf: (profileId: string) => string }
  /** Their own identifiers, as node keys. */
  readonly keys: ReadonlyArray<NodeKey>
}

/**
 * The running pipeline's identity graph, as an erasure (consent/erasure.ts) reaches it: absent where no pipeline runs
 * in the process (the CLI on a data dir: the graph is loaded at the next start, and the erasure empties the snapshots).
 */
export class RunningGraph extends Context.Service<RunningGraph, {
  /**
   * How many identifiers this process's graph forgot, and whether the other pipeline members (Kafka workers) were
   * told to forget the profiles too (an edge that resolves nothing itself forgets none).
   */
  readonly forget: (tenant: string, erased: ErasedIdentity) => Effect.Effect<{ readonly forgotten: number; readonly toldOthers: boolean }>
  /** Loads the tenant's graph again from what is stored, holding up no other tenant's batches. */
  readonly reload: IdentityStage["reloadTenant"]
}>()("cdp/RunningGraph") {}

export interface IdentityStage {
  readonly stage: Stage<CanonicalEvent, WarehouseUnavailable | WarehouseRejectedRows | WarehouseQueryError>
  /** Builds every tenant's graph again from what is stored (a rebuild without a running pipeline's tenant reload); batches wait for it. */
  readonly reload: Effect.Effect<void, WarehouseUnavailable | WarehouseQueryError>
  /**
   * Builds one tenant's graph again from what is stored (after its operator's decision), loaded while batches go on
   * and then put in place: no other tenant's batches or reloads wait for the load.
   */
  readonly reloadTenant: (tenant: string) => Effect.Effect<void, WarehouseUnavailable | WarehouseQueryError>
  /**
   * Forgets an erased person's identifiers in their tenant's graph (TenantGraph.forget), in the tenant's turn: batches from
   * then on join nothing to them. Their tenant's reloadTenant, once their rows are erased, puts the graph right.
   * Returns how many identifiers it forgot.
   */
  readonly forget: (tenant: string, erased: ErasedIdentity) => Effect.Effect<number>
  /**
   * Adds what other pipeline members stored since this graph last read the warehouse (after a rebalance): reads
   * only recent observations, so a worker's start and rebalances stay flat as the warehouse grows.
   */
  readonly catchUp: Effect.Effect<void, WarehouseUnavailable | WarehouseQueryError>
}

/**
 * Makes the stage, with the graph loaded from what is stored (the newest usable snapshot and what came since).
 * `shared`: other processes store observations too (N workers on Kafka), so a snapshot covers only what this graph
 * has read; alone (the in-process bus), every stored observation is one this graph resolved.
 */
export const makeIdentityStage = (config: IdentityConfig, policy: SnapshotPolicy = DEFAULT_SNAPSHOT_POLICY, shared = false) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    let loaded: LoadedIdentity = yield* loadIdentity(config.rules, config.extract.blocked, true)
    let resolver = loaded.resolver
    // What a restart would have to read again without a new snapshot, and messages since the last attempt at one.
    let unsnapshotted = loaded.observationsRead
    let sinceAttempt = unsnapshotted
    let attemptAt = Date.now()
    // Each tenant's batches one at a time, tenants side by side; snapshots, reloads and catch-ups alone (graph-turns.ts).
    const turns = makeGraphTurns()
    // Rows resolved and not yet stored, per tenant: a tenant's batch stores its own, beside other tenants' batches.
    const pending = new Map<string, Pending>()
    const pendingOf = (tenant: string): Pending => {
      let p = pending.get(tenant)
      if (p === undefined) pending.set(tenant, p = { observations: [], links: [], moved: new Map(), merges: [], nodes: new Map() })
      return p
    }
    // Tenants' reloads loading now, each given the observations of its tenant this stage stores meanwhile (alone, it
    // stores every one: see reloadTenant).
    const loading = new Set<{ readonly tenant: string; readonly landed: Array<TenantObservation> }>()
    const store = (tenant: string) => Effect.gen(function* () {
      const rows = pendingOf(tenant)
      // Handed to the reloads before they are stored: a store that fails half-way (some tables written) leaves none
      // out; one handed twice (the store tried again with the next batch) changes nothing.
      for (const reload of loading) {
        if (reload.tenant !== tenant) continue
        for (const o of rows.observations) {
          const sightings = o.sightings.map(({ kind, value, trust }) => ({ kind, value, trust })) as TenantObservation["sightings"]
          reload.landed.push({ tenant: o.tenant, messageId: o.messageId, timeMs: Date.parse(o.timestamp), sightings })
        }
      }
      yield* storeIdentity({ ...rows, moved: [...rows.moved.values()], nodes: [...rows.nodes.values()] })
        .pipe(Effect.provideService(Warehouse, warehouse))
      pending.delete(tenant)
    })
    const unstored = (tenant: string) => (pending.get(tenant)?.observations.length ?? 0) > 0
    // The rows an earlier store left (kept for their tenant's next batch), of every tenant or of one: stored before a
    // load of the graph (every tenant's or the one's), which reads what is stored and would otherwise lack them, and
    // replace the graph that resolved them.
    const storeUnstored = (tenants: Iterable<string> = [...pending.keys()]) => Effect.gen(function* () {
      for (const tenant of tenants) if (unstored(tenant)) yield* store(tenant)
    })
    // For a reload: rows the warehouse refuses are never stored, so the graph, a function of what is stored, goes on
    // without them; their tenant's next batch tries them again, and the pipeline isolates what is refused.
    const storeBeforeReload = (tenants?: Iterable<string>) => storeUnstored(tenants).pipe(Effect.catchTag("WarehouseRejectedRows", (e) =>
      Effect.logWarning(`identity reload: unstored rows refused by the warehouse (${e.table}): ${e.message}`)))
    /**
     * Tenants whose resolution failed half-way (a read back failed): their graph may be ahead of what is stored, so it is
     * loaded again from what is stored before their next batch (their graph alone: reloadOne) and before a snapshot
     * (every tenant's, the newest snapshot and what was stored since, alone: freshen), their unstored rows stored first.
     */
    const stale = new Set<string>()
    const freshen = Effect.gen(function* () {
      if (stale.size === 0) return
      yield* storeUnstored()
      loaded = yield* loadIdentity(config.rules, config.extract.blocked, true).pipe(Effect.provideService(Warehouse, warehouse))
      resolver = loaded.resolver
      stale.clear()
    })
    // A snapshot is only an optimisation: failing to write one never fails a batch (the next try waits a period).
    const snapshot = Effect.gen(function* () {
      sinceAttempt = 0
      attemptAt = Date.now()
      yield* freshen
      // What the snapshot covers is what the graph has read: catching up first lets it cover up to now. Alone, the
      // graph holds everything stored (batches are stored before their turn ends), and a catch-up would only read it again.
      loaded = shared ? yield* catchUpGraph(loaded, config.extract.blocked) : { ...loaded, syncedUntilMs: Date.now() }
      const bytes = yield* writeSnapshot(loaded)
      unsnapshotted = 0
      yield* Effect.logDebug(`identity snapshot stored: ${bytes} bytes`)
    }).pipe(
      Effect.provideService(Warehouse, warehouse),
      Effect.catch((e) => Effect.logWarning(`identity snapshot not stored: ${e._tag}`)),
      Effect.catchDefect((defect) => Effect.logWarning(`identity snapshot not stored: ${defect instanceof Error ? defect.message : "unexpected failure"}`)),
    )
    yield* Effect.addFinalizer(() => Effect.suspend(() => (unsnapshotted > 0 ? snapshot : Effect.void)).pipe(turns.whole))
    const mergeReason = (kind: "merge" | "split") =>
      kind === "merge" ? "a new link joined identifiers of both profiles" : "a link no longer holds (a limit, a shared value or a change of owner)"
    const snapshotDue = () => sinceAttempt >= policy.everyMessages || sinceAttempt >= policy.minMessages && Date.now() - attemptAt >= policy.everyMs

    // A batch, in the turn of its tenants: a stale tenant's graph loaded again first (beside other tenants' batches, put
    // in place alone); resolved and stored beside other tenants' batches; then a snapshot when one is due, alone.
    const stage: IdentityStage["stage"] = (batch) => {
      const tenants = new Set(batch.map((event) => event.tenant))
      return Effect.gen(function* () {
        for (const tenant of tenants) if (stale.has(tenant)) yield* reloadOne(tenant, Effect.void)
        const outcomes = yield* turns.shared(resolveBatch(batch, tenants))
        if (snapshotDue()) yield* turns.whole(Effect.suspend(() => (snapshotDue() ? snapshot : Effect.void)))
        return outcomes
      }).pipe(turns.tenants(tenants))
    }
    const resolveBatch = (batch: ReadonlyArray<CanonicalEvent>, tenants: ReadonlySet<string>) =>
      Effect.gen(function* () {
        // What an earlier attempt resolved but could not store goes first: read-backs must find it.
        for (const tenant of tenants) if (unstored(tenant)) yield* store(tenant)
        const profiles = new Map<string, string>()
        const groups = new Map<string, Array<Observation>>()
        const placed: Array<CanonicalEvent> = []
        for (const event of batch) {
          if (!CANONICAL_TIME.test(event.timestamp)) continue
          placed.push(event)
          const x = extractSightings(event, config.extract)
          pendingOf(event.tenant).observations.push({
            tenant: event.tenant, messageId: event.messageId, timestamp: event.timestamp,
            sightings: x.observation.sightings.map((s, i) => ({ ...s, raw: x.raw[i]! })),
            refused: x.refused.map((r) => ({ kind: r.kind, raw: r.raw, reason: r.reason })),
          })
          if (x.observation.sightings.length === 0) {
            profiles.set(`${event.tenant}\u0000${event.messageId}`, profileIdFor(event.tenant, `message:${event.messageId}`))
            continue
          }
          const list = groups.get(event.tenant)
          if (list === undefined) groups.set(event.tenant, [x.observation])
          else list.push(x.observation)
        }
        for (const [tenant, observations] of groups) yield* resolveTenant(tenant, observations, profiles)
        // Stored messages this batch moved into a profile go with the first of its messages in that profile (movedIn):
        // a later stage (consent) decides them by the ledger of the profile they joined.
        const movedInto = new Map<string, Array<string>>()
        for (const tenant of tenants) {
          for (const m of pending.get(tenant)?.moved.values() ?? []) {
            const k = `${m.tenant}\u0000${m.profileId}`
            const list = movedInto.get(k)
            if (list === undefined) movedInto.set(k, [m.messageId])
            else list.push(m.messageId)
          }
        }
        for (const tenant of tenants) if (unstored(tenant)) yield* store(tenant)
        unsnapshotted += placed.length
        sinceAttempt += placed.length
        const inTime = new Set(placed)
        return batch.map((event) => {
          if (!inTime.has(event)) {
            return deadLetter({ rule: "bad_timestamp", field: "/timestamp", message: "identity resolution needs the message's time, and it is not a date-time" })
          }
          const profileId = profiles.get(`${event.tenant}\u0000${event.messageId}`) ?? event.profileId
          const k = `${event.tenant}\u0000${profileId}`
          const movedIn = movedInto.get(k)
          if (movedIn === undefined) return ok({ ...event, profileId })
          movedInto.delete(k)
          return ok({ ...event, profileId, movedIn })
        })
      })
    /** One tenant's observations of a batch resolved with its graph: their profiles, and the rows to store. */
    const resolveTenant = (tenant: string, observations: ReadonlyArray<Observation>, profiles: Map<string, string>) =>
      Effect.gen(function* () {
        const rows = pendingOf(tenant)
        // A failure while the graph is changed leaves it ahead of what is stored: it is loaded again before the
        // tenant's next batch (freshen).
        stale.add(tenant)
        const r = yield* resolveOnline(resolver.graph(tenant), tenant, observations, loaded.readBack)
        stale.delete(tenant)
        for (const [id, p] of r.profiles) profiles.set(`${tenant}\u0000${id}`, p)
        for (const m of r.moved) rows.moved.set(`${tenant}\u0000${m.messageId}`, { tenant, messageId: m.messageId, profileId: m.profileId })
        for (const row of yield* inSlices(linkRows(tenant, r))) rows.links.push(row)
        for (const [key, row] of yield* inSlices(nodeRows(tenant, r))) rows.nodes.set(key, row)
        rows.merges = rows.merges.concat(r.merges.map((m) => ({ tenant, ...m, reason: mergeReason(m.kind) })))
        // Stored messages of parts that moved whole, found by identifier (the graph does not hold them). A failure
        // here leaves the graph ahead of what is stored too.
        stale.add(tenant)
        const whole = yield* storedMoves(tenant, r)
        stale.delete(tenant)
        for (const m of whole.moved) rows.moved.set(`${tenant}\u0000${m.messageId}`, { tenant, ...m })
        rows.merges = rows.merges.concat(whole.merges.map((m) => ({ tenant, ...m, reason: mergeReason(m.kind) })))
      }).pipe(Effect.provideService(Warehouse, warehouse))
    // Reloads are numbered as they begin. A tenant's reload loads outside any turn, so one that began before the graph
    // in place was loaded (every tenant's, or this tenant's again) is not put in: that graph read all it would have
    // read, and decisions and erasures recorded since. An erasure forgets the person's identifiers first (forget), so no
    // batch resolves with them while their tenant loads; a reload of theirs that began before and is put in meanwhile
    // holds them until the erasure's own is put in (which writes the snapshot that replaces its).
    let begun = 0
    let installedAll = 0
    const installedTenant = new Map<string, number>()
    // Erasures forgotten while a tenant's reload may have been loading (`after`: the number of the last reload begun
    // before): a reload that began before one has the person's rows in hand, so it forgets them again as it is put in,
    // and its snapshot holds none of them. Dropped once a reload that began after it is put in.
    let forgettings: Array<{ readonly after: number; readonly tenant: string; readonly erased: ErasedIdentity }> = []
    const forgetIn = (tenant: string, erased: ErasedIdentity) => {
      const ids = new Set(erased.profileIds)
      const hashes = erased.profileHashes
      return resolver.graph(tenant).forget((p) => ids.has(p) || hashes !== undefined && hashes.erased.has(hashes.hashOf(p)), erased.keys)
    }
    // A reload follows an operator's decision or a rebuild, which a snapshot would not show: it reads
    // everything, and replaces the snapshot at once (so none holds what an erasure removed).
    const reload: IdentityStage["reload"] = Effect.gen(function* () {
      const number = ++begun
      yield* storeBeforeReload()
      loaded = yield* loadIdentity(config.rules, config.extract.blocked, false)
      resolver = loaded.resolver
      installedAll = number
      installedTenant.clear()
      forgettings = forgettings.filter((f) => f.after >= number)
      stale.clear()
      yield* snapshot
    }).pipe(Effect.provideService(Warehouse, warehouse), turns.whole)
    // A tenant's graph loaded again and put in place, then `then` (in the same whole-graph turn): a snapshot after an
    // operator's decision or an erasure (reloadTenant), nothing when a resolution failed half-way (stage).
    const reloadOne = (tenant: string, then: Effect.Effect<void>) => {
      // Alone (the in-process bus), this stage stores every observation: it hands the reload those of the tenant it
      // stores from its start on. With other pipeline members storing too, installTenant reads what was stored since
      // the load began (less an overlap for their clocks).
      const watch = shared ? undefined : { tenant, landed: [] as Array<TenantObservation> }
      return Effect.gen(function* () {
        const number = ++begun
        if (watch !== undefined) loading.add(watch)
        // Every read on the background connection (backgroundReads): the tenant's whole history, read 200,000 messages a
        // statement on the pipeline's connection, held every tenant's landing for seconds (3.3-4.4 s at 200,000 in
        // test/identity/rebuild-connection), and an answer that size held the event loop about a second as it was split
        // into rows; RELOAD_PAGE messages a statement. What landed meanwhile was read again in the stage's one turn, on the
        // pipeline's connection, with a minute of overlap: seen on cdp serve, a 4.8 s batch after a rebuild of a flooding
        // tenant. Alone, it is added before its whole-graph turn (a few rounds while more lands), and only the rest in it.
        let fresh: TenantIdentity = yield* backgroundReads(loadTenantIdentity(config.rules, config.extract.blocked, tenant, RELOAD_PAGE))
        let taken = 0
        for (let round = 0; watch !== undefined && round < CATCH_UP_ROUNDS && watch.landed.length > taken; round++) {
          const landed = watch.landed.slice(taken)
          taken = watch.landed.length
          fresh = yield* backgroundReads(catchUpTenant(fresh, landed, config.extract.blocked))
        }
        yield* Effect.gen(function* () {
          if (number < installedAll || number < (installedTenant.get(tenant) ?? 0)) return
          // Stored here, they are handed to this reload (store) or read as stored since its load (installTenant).
          yield* storeBeforeReload([tenant])
          // A failure half-way may leave the tenant's graph partly caught up: the next batch loads the graph again.
          stale.add(tenant)
          loaded = yield* backgroundReads(installTenant(loaded, fresh, config.rules, undefined, watch?.landed.slice(taken)))
          resolver = loaded.resolver
          stale.delete(tenant)
          for (const f of forgettings) if (f.tenant === tenant && f.after >= number) forgetIn(tenant, f.erased)
          forgettings = forgettings.filter((f) => f.tenant !== tenant || f.after >= number)
          installedTenant.set(tenant, number)
          yield* then
        }).pipe(turns.whole)
      }).pipe(Effect.ensuring(Effect.sync(() => { if (watch !== undefined) loading.delete(watch) })), Effect.provideService(Warehouse, warehouse))
    }
    const reloadTenant: IdentityStage["reloadTenant"] = (tenant) => reloadOne(tenant, snapshot)
    const forget: IdentityStage["forget"] = (tenant, erased) =>
      Effect.sync(() => {
        forgettings.push({ after: begun, tenant, erased })
        return forgetIn(tenant, erased)
      }).pipe(turns.shared, turns.tenants([tenant]))
    const catchUp: IdentityStage["catchUp"] = Effect.gen(function* () {
      loaded = yield* catchUpGraph(loaded, config.extract.blocked)
    }).pipe(Effect.provideService(Warehouse, warehouse), turns.whole)
    return { stage, reload, reloadTenant, forget, catchUp } satisfies IdentityStage
  })
