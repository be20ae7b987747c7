// What GET /v1/profiles/{identifier} answers (and `cdp profile show --format json` prints): the profile, its consent
// per purpose and its timeline's first page; and a bounded in-process cache of those answers for `cdp serve`.
//
// The cache is exact, not eventually right: an entry is served only while the warehouse's storage generation (one
// read of the engine's part catalogue, warehouse/profiles.ts) is the one it was read under, and any insert (a landed
// batch, a merge's moved messages, a consent change, a relations run), delete or erasure changes that generation.
// A request never trusts a generation read before it arrived: concurrent requests share one catalogue read that
// started after them, so a profile read after a 2xx from the collector always sees what that 2xx landed.
import { Effect } from "effect"
import { type ConsentPolicies, ConsentPoliciesRef, type ConsentView, DEFAULT_POLICIES, showConsent } from "../consent/index.ts"
import {
  type IdentityConfig, profileIdOf, type ProfileView, readIdentifier, readProfileView, type TimelinePage, type TraitPrecedence,
} from "../identity/index.ts"
import { storageGeneration } from "../warehouse/profiles.ts"
import { Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"

export type ProfileWithConsent = ProfileView & {
  readonly consent: { readonly restricted: boolean; readonly purposes: ConsentView["purposes"] }
  readonly timeline: { readonly events: TimelinePage["events"]; readonly nextCursor: string | null }
}

/** The profile, its consent per purpose, its timeline's first page (`recent` rows, at least one). */
export const readProfile = (tenant: string, identifier: string, recent: number, identity: IdentityConfig, precedence?: TraitPrecedence) =>
  Effect.gen(function* () {
    const ref = yield* readIdentifier(identifier, tenant, identity)
    // The identifier is looked up once; then the profile and its consent side by side, each run to its end: a failing
    // read must not interrupt the other's queries inside the embedded engine.
    const profile = { _tag: "profile" as const, profileId: yield* profileIdOf(tenant, ref) }
    const [read, consent] = yield* Effect.all([
      readProfileView(tenant, profile, { recent, ...(precedence === undefined ? {} : { precedence }) }),
      showConsent(tenant, profile),
    ], { concurrency: "unbounded", mode: "result" })
    if (read._tag === "Failure") return yield* Effect.fail(read.failure)
    if (consent._tag === "Failure") return yield* Effect.fail(consent.failure)
    return {
      ...read.success.view,
      consent: { restricted: consent.success.restricted, purposes: consent.success.purposes },
      timeline: read.success.timeline,
    } satisfies ProfileWithConsent
  })

/** Answers kept per server; the oldest read goes first (a profile is a few kB: ~20 MB at most). */
export const PROFILE_CACHE_ENTRIES = 5000

interface Entry {
  readonly generation: string
  readonly precedence: TraitPrecedence | undefined
  readonly policies: ConsentPolicies | undefined
  readonly body: ProfileWithConsent
}

/** One server's cache: its answers, and the catalogue read its requests share. */
class ProfileCache {
  private readonly entries = new Map<string, Entry>()
  private running: Promise<string> | undefined
  private queued: Promise<string> | undefined
  hits = 0
  misses = 0

  private readonly warehouse: WarehouseShape

  constructor(warehouse: WarehouseShape) {
    this.warehouse = warehouse
  }

  /** The generation as of a catalogue read that started after this call: joins the next read, never a running one. */
  generation(): Promise<string> {
    if (this.running === undefined) return this.start()
    this.queued ??= this.running.catch(() => undefined).then(() => {
      this.queued = undefined
      return this.start()
    })
    return this.queued
  }

  private start(): Promise<string> {
    const read: Promise<string> = Effect.runPromise(storageGeneration().pipe(Effect.provideService(Warehouse, this.warehouse)))
      .finally(() => {
        if (this.running === read) this.running = undefined
      })
    this.running = read
    return read
  }

  get(key: string, generation: string, precedence: TraitPrecedence | undefined, policies: ConsentPolicies | undefined) {
    const e = this.entries.get(key)
    if (e === undefined || e.generation !== generation || e.precedence !== precedence || e.policies !== policies) return undefined
    // Most recently used last: eviction takes the first.
    this.entries.delete(key)
    this.entries.set(key, e)
    return e.body
  }

  set(key: string, entry: Entry) {
    this.entries.delete(key)
    this.entries.set(key, entry)
    while (this.entries.size > PROFILE_CACHE_ENTRIES) this.entries.delete(this.entries.keys().next().value!)
  }
}

const caches = new WeakMap<WarehouseShape, ProfileCache>()

const cacheOf = (warehouse: WarehouseShape) => {
  let cache = caches.get(warehouse)
  if (cache === undefined) {
    cache = new ProfileCache(warehouse)
    caches.set(warehouse, cache)
  }
  return cache
}

/** Hits and misses of a server's profile cache (for the bench). */
export const profileCacheStats = (warehouse: WarehouseShape) => {
  const c = caches.get(warehouse)
  return { hits: c?.hits ?? 0, misses: c?.misses ?? 0 }
}

/**
 * readProfile through the server's cache. A failed catalogue read falls back to reading the profile (the warehouse
 * then answers or fails as it would have); failures (an unknown person) are not cached.
 */
export const readProfileCached = (options: {
  readonly warehouse: WarehouseShape
  readonly tenant: string
  readonly identifier: string
  readonly recent: number
  readonly identity: IdentityConfig
  readonly precedence: TraitPrecedence | undefined
  readonly policies: ConsentPolicies | undefined
}) =>
  Effect.gen(function* () {
    const cache = cacheOf(options.warehouse)
    const generation = yield* Effect.promise(() => cache.generation().catch(() => undefined))
    const key = `${options.tenant}\u0000${options.recent}\u0000${options.identifier}`
    if (generation !== undefined) {
      const hit = cache.get(key, generation, options.precedence, options.policies)
      if (hit !== undefined) {
        cache.hits++
        // A copy: whoever answers may mask or trim what it sends.
        return structuredClone(hit)
      }
    }
    cache.misses++
    const body = yield* readProfile(options.tenant, options.identifier, options.recent, options.identity, options.precedence).pipe(
      Effect.provideService(Warehouse, options.warehouse),
      Effect.provideService(ConsentPoliciesRef, options.policies ?? DEFAULT_POLICIES),
    )
    // Stored under the generation read before the profile was: a write in between makes it stale at once, never served.
    if (generation !== undefined) cache.set(key, { generation, precedence: options.precedence, policies: options.policies, body: structuredClone(body) })
    return body
  })
