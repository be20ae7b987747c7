// `cdp identity rebuild`: the whole graph recomputed from the stored observations with the current rules (after a
// rule or configuration change), deterministically; every message whose profile differs from what `events` shows is
// moved, and what moved is reported. With `reread`, stored raw values are normalised again with each tenant's current
// rules (mailbox rules, phone regions), and observations that now read differently are stored again, so a restart agrees.
import { Effect } from "effect"
import {
  loadStoredObservations, type MergeRow, type MovedRow, type ObservationRow, type StoredObservation, storeIdentity,
} from "../warehouse/identity.ts"
import { besideErasures, readBesideErasures } from "../warehouse/erasure.ts"
import { dropSnapshots } from "../warehouse/identity-snapshots.ts"
import { currentMessageProfiles } from "../warehouse/profiles.ts"
import { CONTROLS_REMOVED, type ExtractConfig, extractConfigFor, storedRaw, storedRefusal } from "./extract.ts"
import type { Observation, Sighting, Trust } from "./graph.ts"
import { type IdentifierKind, IDENTIFIER_KINDS, type Normalised, normaliseIdentifier } from "./normalise.ts"
import { loadGraphInput } from "./operations.ts"
import { IdentityResolver, type ResolveResult } from "./resolver.ts"
import { eachStep, inSlices, mapSteps, pauseAt, type Steps } from "./slices.ts"
import { type IdentityConfig, linkRows, nodeRows } from "./stage.ts"

export interface RebuildSummary {
  readonly tenant: string
  readonly messages: number
  readonly profilesBefore: number
  readonly profilesAfter: number
  readonly moved: number
  readonly seconds: number
}

const TRUST_ORDER: ReadonlyArray<string> = ["verified", "stated", "unverified"]

/**
 * A stored observation read again with the tenant's rules: each raw value normalised anew (a value that no longer
 * reads is refused with its reason); a refused one that reads now joins, as unverified (its trust was not kept),
 * unless it is shown without the control characters it was sent with (CONTROLS_REMOVED): that is not the value sent.
 * A raw value stored with control characters (before they were removed) is stored again without them.
 */
export const readAgain = (
  stored: StoredObservation,
  extract: ExtractConfig,
  /** Values already read with the same rules (one tenant's): the same raw value recurs in many messages. */
  memo: Map<string, Normalised> = new Map(),
): { observation: Observation & { tenant: string }; row?: ObservationRow } => {
  const { normalise } = extractConfigFor(extract, stored.tenant)
  const sightings = new Map<string, Sighting & { raw: string }>()
  const refused: Array<ObservationRow["refused"][number]> = []
  let cleaned = false
  const refuse = (kind: string, raw: string, reason: string) => {
    const r = storedRefusal(raw, reason)
    if (r.raw !== raw) cleaned = true
    refused.push({ kind, ...r })
  }
  const add = (kind: IdentifierKind, raw: string, trust: Trust, reasonIfNot: string | undefined) => {
    const asSent = `${stored.tenant}\u0000${kind}\u0000${raw}`
    let n = memo.get(asSent)
    if (n === undefined) memo.set(asSent, n = normaliseIdentifier(kind, raw, normalise))
    if (!n.ok) {
      refuse(kind, raw, reasonIfNot ?? n.reason)
      return
    }
    const key = `${kind}:${n.value}`
    const before = sightings.get(key)
    const shown = storedRaw(raw).raw
    if (shown !== raw) cleaned = true
    if (before === undefined || TRUST_ORDER.indexOf(trust) < TRUST_ORDER.indexOf(before.trust)) sightings.set(key, { kind, value: n.value, trust, raw: shown })
  }
  for (const s of stored.sightings) {
    if (IDENTIFIER_KINDS.has(s.kind as IdentifierKind)) add(s.kind as IdentifierKind, s.raw, s.trust as Trust, undefined)
  }
  for (const r of stored.refused) {
    const kind = r.kind as IdentifierKind
    const n = IDENTIFIER_KINDS.has(kind) ? normaliseIdentifier(kind, r.raw, normalise) : undefined
    // Still unreadable, or readable but blocked, or not the value sent: it stays refused with the reason it was given.
    if (r.reason.endsWith(CONTROLS_REMOVED) || n === undefined || !n.ok || extract.blocked.reasonFor(kind, n.value, stored.tenant) !== undefined) {
      refuse(r.kind, r.raw, r.reason)
    } else add(kind, r.raw, "unverified", r.reason)
  }
  const now = [...sightings.values()]
  const same = now.length === stored.sightings.length && now.every((s, i) => {
    const o = stored.sightings[i]!
    return o.kind === s.kind && o.value === s.value && o.trust === s.trust
  }) && refused.length === stored.refused.length && !cleaned
  const observation = { tenant: stored.tenant, messageId: stored.messageId, timeMs: stored.timeMs, sightings: now.map(({ kind, value, trust }) => ({ kind, value, trust })) }
  return same ? { observation } : { observation, row: { tenant: stored.tenant, messageId: stored.messageId, timestamp: stored.timestamp, sightings: now, refused } }
}

/**
 * Groups the messages' moves (from, to; unmoved ones too) into profile_merges rows. Into a profile that existed, or
 * a whole profile into a new id (its oldest identifier changed: a rename, as the online resolver records it), is a
 * merge; a profile whose messages are divided, some into a new id, is a split.
 */
export function* profileMoves(
  tenant: string, moves: ReadonlyArray<{ readonly from: string; readonly to: string }>, existed: ReadonlySet<string>,
): Steps<Array<MergeRow>> {
  const destinations = new Map<string, Set<string>>()
  yield* eachStep(moves, (m) => {
    const set = destinations.get(m.from)
    if (set === undefined) destinations.set(m.from, new Set([m.to]))
    else set.add(m.to)
  })
  const groups = new Map<string, MergeRow>()
  let step = 0
  for (const m of moves) {
    if (pauseAt(step++)) yield
    if (m.from === m.to) continue
    const key = `${m.from}\n${m.to}`
    const g = groups.get(key)
    const whole = destinations.get(m.from)!.size === 1
    groups.set(key, g === undefined
      ? { tenant, fromProfile: m.from, toProfile: m.to, kind: existed.has(m.to) || whole ? "merge" : "split", messages: 1, reason: "identity rebuild with the current rules" }
      : { ...g, messages: g.messages + 1 })
  }
  return [...groups.values()]
}

export interface RebuildOptions {
  /**
   * Read every stored raw value again with the current rules (`cdp identity rebuild`, after a rule change); about
   * twice the loading time. Without it (an operator's decision) the stored normalised values are used as they are.
   */
  readonly reread?: boolean
}

/**
 * What a tenant's rebuild stores and reports, from its resolution and each stored message's profile now (in steps:
 * a tenant's whole history).
 */
function* rebuildRows(tenant: string, result: ResolveResult, current: ReadonlyArray<{ readonly message_id: string; readonly profile_id: string }>) {
  const profiles = new Map<string, string>()
  yield* eachStep(result.profiles, ([id, profile]) => profiles.set(id, profile))
  const moves = yield* mapSteps(current, (row) => ({ messageId: row.message_id, from: row.profile_id, to: profiles.get(row.message_id) ?? row.profile_id }))
  const moved: Array<MovedRow> = []
  const before = new Set<string>()
  const after = new Set<string>()
  yield* eachStep(moves, (m) => {
    if (m.to !== m.from) moved.push({ tenant, messageId: m.messageId, profileId: m.to })
    before.add(m.from)
    after.add(m.to)
  })
  const merges = yield* profileMoves(tenant, moves, before)
  const links = yield* linkRows(tenant, result)
  const nodes = yield* mapSteps(yield* nodeRows(tenant, result), ([, row]) => row)
  return { moved, merges, links, nodes, profilesBefore: before.size, profilesAfter: after.size }
}

/**
 * Rows of a table a rebuild stores at a time: an insert is made into JSON at once, which a tenant's whole history
 * would hold the event loop for (about 10 microseconds a row); within the warehouse's usual batch sizes.
 */
const STORED_AT_ONCE = 10_000

/**
 * The graph recomputed from the stored observations (of one tenant, or of every one). Every tenant's at once is for a
 * process that holds the data dir alone (cdp identity rebuild on it); cdp serve rebuilds a tenant at a time, beside
 * erasures of it (rebuildBesideErasures).
 */
export const rebuildIdentity = (config: IdentityConfig, onlyTenant?: string, options: RebuildOptions = {}) =>
  onlyTenant === undefined ? Effect.map(rebuildAll(config, undefined, options, storeAlways), (r) => r!) : rebuildBesideErasures(config, onlyTenant, options)

/** Runs a rebuild's writes of one tenant (`store`), or not; whether it ran. */
type StoreGuard = <E, R>(tenant: string, store: Effect.Effect<void, E, R>) => Effect.Effect<boolean, E, R>
const storeAlways: StoreGuard = (_, store) => Effect.as(store, true)

/** Runs of a one-tenant rebuild that erasures may void before one holds erasures off for its whole run. */
const REBUILD_ATTEMPTS = 3

/**
 * A tenant's rebuild beside erasures of it. Observations read before an erasure and stored after it would put the
 * erased person's identifiers back in identity_nodes and identity_links, but holding erasures off for a whole rebuild
 * (minutes for a large tenant) would make a data-subject request wait as long. So it reads and resolves holding
 * nothing, and stores beside no erasure (besideErasures) only if none of the tenant's ran since it began to read;
 * otherwise it runs again. After REBUILD_ATTEMPTS - 1 such runs the last holds erasures off throughout.
 */
const rebuildBesideErasures = (config: IdentityConfig, tenant: string, options: RebuildOptions) =>
  Effect.gen(function* () {
    for (let attempt = 1; attempt < REBUILD_ATTEMPTS; attempt++) {
      const reading = readBesideErasures(tenant)
      // Only the tenant's own stores come here (the rebuild is of it alone); any erasure since the read means reading again.
      const unerased: StoreGuard = (_, store) => reading.beside((erased) => erased.size > 0 ? Effect.succeed(false) : Effect.as(store, true)).pipe(
        Effect.catchTag("ErasuresUntracked", () => Effect.succeed(false)))
      const done = yield* rebuildAll(config, tenant, options, unerased)
      if (done !== undefined) return done
      yield* Effect.logInfo("identity rebuild read before an erasure of its tenant; running it again").pipe(Effect.annotateLogs({ tenant, attempt }))
    }
    return (yield* besideErasures(tenant)(rebuildAll(config, tenant, options, storeAlways)))!
  })

/** The rebuild; undefined when `guard` did not let a tenant's writes run (nothing stored from then on). */
const rebuildAll = Effect.fn("rebuildIdentity")(function* (config: IdentityConfig, onlyTenant: string | undefined, options: RebuildOptions, guard: StoreGuard) {
  const started = performance.now()
  const memo = new Map<string, Normalised>()
  const rewritten: Array<ObservationRow> = []
  const read = options.reread === true
    // Reading a value anew can take 100 microseconds (a phone number), so this pauses more often.
    ? yield* inSlices(mapSteps(yield* loadStoredObservations(onlyTenant), (stored) => {
      const again = readAgain(stored, config.extract, memo)
      if (again.row !== undefined) rewritten.push(again.row)
      return again.observation
    }, 16))
    : undefined
  const input = yield* loadGraphInput(onlyTenant, config.extract.blocked, read)
  const summaries: Array<RebuildSummary> = []
  for (const [tenant, observations] of input.observations) {
    const t0 = performance.now()
    const graph = new IdentityResolver(config.rules, input.decisions).graph(tenant)
    const result = yield* inSlices(graph.resolveSteps(observations))
    const current = yield* currentMessageProfiles(tenant)
    const rows = yield* inSlices(rebuildRows(tenant, result, current))
    const reread = rewritten.filter((r) => r.tenant === tenant)
    const most = Math.max(reread.length, rows.links.length, rows.moved.length, rows.merges.length, rows.nodes.length)
    const stored = yield* guard(tenant, Effect.gen(function* () {
      for (let i = 0; i < most; i += STORED_AT_ONCE) {
        const part = <A>(all: ReadonlyArray<A>) => all.slice(i, i + STORED_AT_ONCE)
        yield* storeIdentity({
          observations: part(reread), links: part(rows.links), moved: part(rows.moved), merges: part(rows.merges), nodes: part(rows.nodes),
        })
      }
    }))
    if (!stored) return undefined
    summaries.push({
      tenant, messages: current.length, profilesBefore: rows.profilesBefore, profilesAfter: rows.profilesAfter,
      moved: rows.moved.length, seconds: (performance.now() - t0) / 1000,
    })
  }
  // A snapshot's fingerprint covers the graph rules and operators' decisions, not how values were normalised: one
  // taken before this rebuild re-read the observations could hold old values. The next start reads every observation.
  // Without a re-read the stored values are the same, and the snapshot a running graph wrote when it reloaded for an
  // operator's decision (just before this rebuild) is the graph with that decision: dropping it made the next start
  // read everything. An older one is refused by its fingerprint.
  if (options.reread === true) yield* dropSnapshots()
  return { tenants: summaries, seconds: (performance.now() - started) / 1000 }
})
