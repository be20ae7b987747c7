// The loop `cdp serve` runs beside the pipeline. It hears the warehouse's writes (warehouse/writes.ts) and, as soon
// as a write ends that can move someone in or out (events, sentiment or consent of a profile, a merge or split),
// re-evaluates every audience for the profiles that write touched only. What moves many profiles at once (a relations
// run, an erasure, a restriction, a change of trait precedence, an audience saved) and time leaving a window are
// caught by a full refresh: at once for the former, at least every `idle` for the latter. One refresh at a time; a
// failed one is logged and its profiles are tried again.
import { Duration, Effect, Schedule } from "effect"
import { backgroundReads, Warehouse } from "../../warehouse/warehouse.ts"
import { commandTable, onWarehouseWrite, type WarehouseWrite } from "../../warehouse/writes.ts"
import { AUDIENCE_SOURCE, type Emit, refreshAudiences, refreshAudiencesFor } from "./membership.ts"

export interface RefresherOptions {
  readonly emit: Emit
  /**
   * Messages landed so far (the pipeline's counter). Writes are heard on the refresher's own warehouse; if this count
   * moves while none was heard (the pipeline writes through another one), the next step is a full refresh.
   */
  readonly landed?: () => number
  /** How often heard changes are looked at (default 100 ms): the latency of an entry or exit after its write. */
  readonly tick?: Duration.Input
  /** A full refresh at least this often (default 60 s): windows ("in the last 30 days") move with time alone. */
  readonly idle?: Duration.Input
  /** More changed profiles of a tenant than this in one step make it a full refresh (one scan beats a long list). */
  readonly fullAbove?: number
}

// Writes whose rows say which profile they touch (tenant, profile_id; merges: both sides).
const PROFILE_TABLES = new Set(["event_rows", "sentiment", "consent_ledger", "event_profiles"])
// Writes that can move many profiles at once, or that the rows do not tie to a profile: a full refresh.
const FULL_TABLES = new Set([
  "events", "event_rows", "sentiment", "consent_ledger", "event_profiles", "profile_merges", "identity_nodes", "relation_scores",
  "relation_runs", "trait_precedence", "subject_restrictions", "profile_restrictions", "audience_versions",
])

/**
 * What one write asks of the refresher: profiles per tenant, or a full refresh. The refresher's own Audience
 * Entered/Exited events are kept apart (`own`): they are news only to audiences whose conditions look at them.
 */
export class HeardChanges {
  readonly profiles = new Map<string, Set<string>>()
  readonly own = new Map<string, Set<string>>()
  full = false
  writes = 0

  hear(write: WarehouseWrite): void {
    if (write.kind === "command") {
      // INSERT ... SELECT, ALTER ... DELETE (erasure), TRUNCATE: the rows are not known here.
      const table = commandTable(write.sql)
      if (table !== undefined && FULL_TABLES.has(table)) this.full = true
      if (table !== undefined) this.writes++
      return
    }
    this.writes++
    if (PROFILE_TABLES.has(write.table)) {
      for (const r of write.rows) this.add(r["tenant"], r["profile_id"], write.table === "event_rows" && r["source"] === AUDIENCE_SOURCE ? this.own : this.profiles)
    } else if (write.table === "profile_merges") {
      for (const r of write.rows) {
        this.add(r["tenant"], r["from_profile"])
        this.add(r["tenant"], r["to_profile"])
      }
    } else if (FULL_TABLES.has(write.table) && write.table !== "identity_nodes") {
      // identity_nodes moves with the messages of the same batch (heard through event_profiles and event_rows).
      this.full = true
    }
  }

  private add(tenant: unknown, profile: unknown, to = this.profiles): void {
    if (typeof tenant !== "string" || typeof profile !== "string" || profile === "") return
    let set = to.get(tenant)
    if (set === undefined) to.set(tenant, set = new Set())
    set.add(profile)
  }

  /** Takes what was heard so far, leaving nothing. */
  take(): { readonly full: boolean; readonly profiles: Map<string, Set<string>>; readonly own: Map<string, Set<string>>; readonly writes: number } {
    const out = { full: this.full, profiles: new Map(this.profiles), own: new Map(this.own), writes: this.writes }
    this.full = false
    this.profiles.clear()
    this.own.clear()
    this.writes = 0
    return out
  }

  /** Puts back what a failed step took, so its profiles are tried again. */
  giveBack(taken: { readonly full: boolean; readonly profiles: ReadonlyMap<string, ReadonlySet<string>>; readonly own: ReadonlyMap<string, ReadonlySet<string>> }): void {
    if (taken.full) this.full = true
    for (const [tenant, set] of taken.profiles) for (const p of set) this.add(tenant, p)
    for (const [tenant, set] of taken.own) for (const p of set) this.add(tenant, p, this.own)
  }
}

type Taken = ReturnType<HeardChanges["take"]>

/** What the loop remembers between steps. */
interface LoopState {
  /** When the last full refresh started (ms). */
  lastFull: number
  /** The pipeline's landed count at the last step. */
  landedSeen: number
  /** After a failure (the warehouse gone for a while) no step runs before this (ms), rather than one every tick. */
  retryAt: number
}

/**
 * What a step refreshes: everything when a write asked for it, when messages landed unheard (written through another
 * warehouse), when a tenant touched too many profiles, or when the last full refresh is `idle` old; else the profiles
 * heard; else nothing.
 */
const whatToRefresh = (taken: Taken, landed: number, state: LoopState, idleMs: number, fullAbove: number): "full" | "profiles" | "nothing" => {
  const unheard = landed !== state.landedSeen && taken.writes === 0
  const tooMany = [...taken.profiles.values()].some((s) => s.size > fullAbove)
  if (taken.full || unheard || tooMany || Date.now() - state.lastFull >= idleMs) return "full"
  return taken.profiles.size === 0 && taken.own.size === 0 ? "nothing" : "profiles"
}

/**
 * A refresh, its reads on a connection of their own (backgroundReads): a tenant's many heavy audiences, each a query
 * over its events, held every tenant's landing on the pipeline's connection. Its writes (changes, members) stay there.
 */
const refresh = (what: "full" | "profiles", taken: Taken, emit: Emit, state: LoopState) =>
  backgroundReads(what === "full"
    ? Effect.sync(() => { state.lastFull = Date.now() }).pipe(Effect.andThen(refreshAudiences({ emit })))
    : refreshAudiencesFor(taken.profiles, { emit, own: taken.own }))

/** One step: take what was heard and refresh what it asks; a failed refresh gives it back to be tried again later. */
const step = (heard: HeardChanges, options: RefresherOptions, state: LoopState, idleMs: number, fullAbove: number) =>
  Effect.gen(function* () {
    if (Date.now() < state.retryAt) return
    const landed = options.landed?.() ?? 0
    const taken = heard.take()
    const what = whatToRefresh(taken, landed, state, idleMs, fullAbove)
    state.landedSeen = landed
    if (what === "nothing") return
    const s = yield* refresh(what, taken, options.emit, state).pipe(Effect.tapCause(() => Effect.sync(() => {
      heard.giveBack(taken)
      state.retryAt = Date.now() + 1000
    })))
    if (s.entered + s.exited > 0) yield* Effect.logInfo("audiences refreshed").pipe(Effect.annotateLogs({ ...s, full: what === "full" }))
  }).pipe(Effect.catchCause((cause) => Effect.logWarning("audience refresh failed").pipe(Effect.annotateLogs({ cause: String(cause).slice(0, 300) }))))

export const keepAudiencesCurrent = (options: RefresherOptions) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const heard = new HeardChanges()
    const stop = onWarehouseWrite(warehouse, (w) => heard.hear(w))
    const state: LoopState = { lastFull: 0, landedSeen: options.landed?.() ?? 0, retryAt: 0 }
    const each = step(heard, options, state, Duration.toMillis(options.idle ?? Duration.seconds(60)), options.fullAbove ?? 5000)
    return yield* Effect.repeat(each, Schedule.spaced(options.tick ?? Duration.millis(100))).pipe(Effect.ensuring(Effect.sync(stop)))
  })
