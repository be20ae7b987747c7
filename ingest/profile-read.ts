// What GET /v1/profiles/{identifier} answers (and `cdp profile show --format json` prints): the profile, its consent
// per purpose and its timeline's first page; and a bounded in-process cache of those answers for `cdp serve`.
//
// The cache is exact, not eventually right, and is emptied precisely: every write this process makes through the
// warehouse is heard (warehouse/writes.ts) and drops the answers it can change, found by what each answer was read
// from: its profile, the profiles its messages landed under, its messages, and the identifier it was asked by. A new
// event drops its profile's answers only; a merge or split drops both sides (their moved messages); a consent change,
// a restriction or a relations run drops the profiles it names; anything the cache cannot place (an erasure's
// mutations, a write to a table it does not know) drops everything. A read that a write overlapped is answered but
// not kept. So a read after a 2xx from the collector always sees what that 2xx landed, and a cache hit costs no
// query at all. With a ClickHouse server, other processes (workers) write too: there every hit is also checked
// against the storage generation (one read of the engine's part catalogue, warehouse/profiles.ts).
import { Effect } from "effect"
import { type ConsentPolicies, ConsentPoliciesRef, consentOfScopeColumns, type ConsentView, consentViewOfRows, DEFAULT_POLICIES } from "../consent/index.ts"
import {
  type IdentifierRef, type IdentityConfig, profileScopeOf, type ProfileView, readIdentifier, readProfileViewOf, type TimelinePage, type TraitPrecedence,
  viewOfDocument,
} from "../identity/index.ts"
import { endColumnsOfScope, readStoredDocument } from "../warehouse/profile-documents.ts"
import { DocumentKeeper } from "./profile-documents.ts"
import { mergedParams, type ReadScope, storageGeneration } from "../warehouse/profiles.ts"
import { Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
import { commandTable, onWarehouseWrite, type WarehouseWrite } from "../warehouse/writes.ts"

export type ProfileWithConsent = ProfileView & {
  readonly consent: { readonly restricted: boolean; readonly purposes: ConsentView["purposes"] }
  readonly timeline: { readonly events: TimelinePage["events"]; readonly nextCursor: string | null }
}

/** The answer of a profile's view and timeline (read now or from its document) with its consent now. */
const answerOf = (read: { readonly view: ProfileView; readonly timeline: ProfileWithConsent["timeline"] }, consentNow: ConsentView): ProfileWithConsent => ({
  ...read.view,
  consent: { restricted: consentNow.restricted, purposes: consentNow.purposes },
  timeline: read.timeline,
})

/**
 * The answer with what it was read from (the identifier as resolved, the profile's read scope) and, for a cache
 * (`withEnd`), when it ends by itself (warehouse/profile-documents.ts answerEnd, null for never): a document knows its
 * own; a read reads it in its statement.
 */
const readProfileFrom = (
  tenant: string, identifier: string, recent: number, identity: IdentityConfig, precedence?: TraitPrecedence,
  ownerOf?: (ref: IdentifierRef) => string | undefined, current?: DocumentCurrent, withEnd = false,
) =>
  Effect.gen(function* () {
    const ref = yield* readIdentifier(identifier, tenant, identity)
    const owner = ownerOf?.(ref)
    const asked: IdentifierRef = owner === undefined ? ref : { _tag: "profile", profileId: owner }
    if (current !== undefined) {
      const fromDocument = yield* answerOfDocument(tenant, asked, recent, current, precedence)
      if (fromDocument !== undefined) return { ...fromDocument, ref, fromDocument: true }
    }
    // The profile's owner and message ids in one statement, then the rest of the profile, its consent (the ledger by
    // those message ids) and what ends it in one more: their columns ride in the profile's statement. Consent is of
    // the profile shown, from the same scope.
    const scope = yield* profileScopeOf(tenant, asked)
    const consentColumns = consentOfScopeColumns(scope)
    const ends = withEnd ? endColumnsOfScope(scope, Date.now()) : undefined
    const also = ends === undefined ? consentColumns
      : { columns: { ...consentColumns.columns, ...ends.columns }, params: mergedParams(consentColumns.params, ends.params) }
    const read = yield* readProfileViewOf(scope, { recent, also, ...(precedence === undefined ? {} : { precedence }) })
    const body = answerOf(read, yield* consentColumns.view(read.also))
    const until = ends === undefined ? null : yield* ends.end(read.also)
    return { body, ref, scope: read.scope, until, fromDocument: false }
  })

/** Says whether a stored document (a profile's, built at `built`) is known current: nothing it holds changed since. */
export type DocumentCurrent = (tenant: string, profileId: string, built: number) => boolean

/**
 * The answer from the profile's stored document (one statement, the identifier's owner looked up in it, and the
 * relationship beside it), when `current` says the document is current and it can answer this read; undefined
 * otherwise, and the caller reads the profile as before.
 */
const answerOfDocument = (tenant: string, asked: IdentifierRef, recent: number, current: DocumentCurrent, precedence?: TraitPrecedence) =>
  Effect.gen(function* () {
    const stored = yield* readStoredDocument(tenant, asked._tag === "profile" ? { profileId: asked.profileId } : { kind: asked.kind, value: asked.value })
    if (stored === undefined || !current(tenant, stored.profileId, stored.built)) return undefined
    const read = yield* viewOfDocument(tenant, stored, { recent, ...(precedence === undefined ? {} : { precedence }) })
    if (read === undefined) return undefined
    const body = answerOf(read, yield* consentViewOfRows({ tenant, profileId: stored.profileId, ids: read.scope.ids }, read.consent))
    return { body, scope: read.scope, until: read.until }
  })

/** readProfile from the profile's stored document, undefined when `current` does not vouch for it (tests and the bench). */
export const readProfileOfDocument = (
  tenant: string, identifier: string, recent: number, identity: IdentityConfig, current: DocumentCurrent, precedence?: TraitPrecedence,
) =>
  Effect.gen(function* () {
    const ref = yield* readIdentifier(identifier, tenant, identity)
    return (yield* answerOfDocument(tenant, ref, recent, current, precedence))?.body
  })

/** The profile, its consent per purpose, its timeline's first page (`recent` rows, at least one). */
export const readProfile = (tenant: string, identifier: string, recent: number, identity: IdentityConfig, precedence?: TraitPrecedence) =>
  Effect.map(readProfileFrom(tenant, identifier, recent, identity, precedence), (r) => r.body)

/** Answers kept per server; the oldest read goes first (a profile is a few kB: ~20 MB at most). */
export const PROFILE_CACHE_ENTRIES = 5000
/** An answer holding more messages than this is not kept (its message index would cost more than the read). */
const MAX_CACHED_MESSAGES = 20_000
/** What all kept answers may depend on in all (index keys, ~100 bytes each): the oldest answers go beyond it. */
const MAX_DEPENDENCIES = 500_000
/** Longest an answer is kept, even when nothing in it is known to move with the clock (answerEnd says what is). */
const MAX_AGE_MS = 10 * 60_000

// What answers depend on, as keys: a profile of a tenant, an identifier (kind, value) of a tenant, a message of a tenant.
const profileKey = (tenant: string, profileId: string) => `p\u0000${tenant}\u0000${profileId}`
const identifierKey = (tenant: string, kind: string, value: string) => `i\u0000${tenant}\u0000${kind}\u0000${value}`
const messageKey = (tenant: string, messageId: string) => `m\u0000${tenant}\u0000${messageId}`

/** What a write can change: everything, every answer of some tenants, or the answers depending on some keys. */
interface Reach {
  readonly all: boolean
  readonly tenants: ReadonlySet<string>
  readonly keys: ReadonlySet<string>
}

/** Tables no profile read looks at: writes to them keep every answer. */
const UNREAD_TABLES = new Set([
  "alerts", "api_token_uses", "api_tokens", "audience_changes", "audience_members", "audience_versions", "bus_data_keys", "dead_letter_outcomes", "dead_letters",
  "dsr_requests", "export_cursors", "export_dead_letters", "export_deliveries", "export_erasures", "export_state", "identity_links",
  "identity_operations", "identity_sightings", "identity_snapshots", "operations", "profile_documents", "relation_activity_daily", "relation_voice_daily",
  "schema_migrations", "texts",
])

// Per table a profile read looks at, the keys a row reaches: its (landing) profile, its message, an identifier's owner.
const ROW_KEYS: Readonly<Record<string, (row: Record<string, unknown>, keys: Set<string>) => void>> = {
  event_rows: (r, k) => { k.add(profileKey(String(r["tenant"]), String(r["profile_id"]))) },
  computed_trait_states: (r, k) => { k.add(profileKey(String(r["tenant"]), String(r["profile_id"]))) },
  profile_restrictions: (r, k) => { k.add(profileKey(String(r["tenant"]), String(r["profile_id"]))) },
  relation_scores: (r, k) => { k.add(profileKey(String(r["tenant"]), String(r["profile_id"]))) },
  // A message moved by a merge or split: its new profile, and whichever answers held it before.
  event_profiles: (r, k) => {
    k.add(profileKey(String(r["tenant"]), String(r["profile_id"])))
    k.add(messageKey(String(r["tenant"]), String(r["message_id"])))
  },
  sentiment: (r, k) => {
    k.add(profileKey(String(r["tenant"]), String(r["profile_id"])))
    k.add(messageKey(String(r["tenant"]), String(r["message_id"])))
  },
  consent_ledger: (r, k) => {
    k.add(profileKey(String(r["tenant"]), String(r["profile_id"])))
    k.add(messageKey(String(r["tenant"]), String(r["message_id"])))
  },
  identity_observations: (r, k) => { k.add(messageKey(String(r["tenant"]), String(r["message_id"]))) },
  profile_merges: (r, k) => {
    k.add(profileKey(String(r["tenant"]), String(r["from_profile"])))
    k.add(profileKey(String(r["tenant"]), String(r["to_profile"])))
  },
  identity_nodes: (r, k) => {
    k.add(profileKey(String(r["tenant"]), String(r["profile_id"])))
    k.add(identifierKey(String(r["tenant"]), String(r["kind"]), String(r["value"])))
  },
}

/** Tables whose every row can change every profile of its tenant (the latest relations run; restricted identifiers). */
const TENANT_TABLES = new Set(["relation_runs", "subject_restrictions"])

/** Message tables a command may change by `tenant` and `ids` parameters (consent stripping and removal of stored rows). */
const MESSAGE_TABLES = new Set(["event_rows", "sentiment", "texts", "identity_observations", "consent_ledger"])

const NOTHING: Reach = { all: false, tenants: new Set(), keys: new Set() }
const EVERYTHING: Reach = { all: true, tenants: new Set(), keys: new Set() }

/** What a write can change, from its table and rows (an insert) or its table and parameters (a command). */
export const reachOf = (write: WarehouseWrite): Reach => {
  const reach = reachOfStatement(write)
  // A write its caller said changes one tenant's rows only (an erasure's) reaches that tenant's answers, not everyone's.
  return reach.all && write.tenant !== undefined ? tenantReach(write.tenant) : reach
}

/** Every answer of one tenant. */
const tenantReach = (tenant: string): Reach => ({ all: false, tenants: new Set([tenant]), keys: new Set() })

/** What a write's table and rows or parameters say it can change. */
const reachOfStatement = (write: WarehouseWrite): Reach => {
  if (write.kind === "insert") {
    if (UNREAD_TABLES.has(write.table)) return NOTHING
    if (TENANT_TABLES.has(write.table)) return { all: false, tenants: new Set(write.rows.map((r) => String(r["tenant"]))), keys: new Set() }
    const keysOf = ROW_KEYS[write.table]
    if (keysOf === undefined) return EVERYTHING
    const keys = new Set<string>()
    for (const row of write.rows) keysOf(row, keys)
    return { all: false, tenants: new Set(), keys }
  }
  const table = commandTable(write.sql)
  if (table !== undefined && UNREAD_TABLES.has(table)) return NOTHING
  const tenant = write.params?.["tenant"]
  const ids = write.params?.["ids"]
  // Only a statement that names its rows by message id and nothing else it could reach (no subquery, no join).
  if (table !== undefined && MESSAGE_TABLES.has(table) && typeof tenant === "string" && Array.isArray(ids) &&
    /WHERE tenant = \{tenant:String\} AND message_id IN \{ids:Array\(String\)\}( SETTINGS [\w =,]+)?$/.test(write.sql) && !/\bSELECT\b/i.test(write.sql)) {
    return { all: false, tenants: new Set(), keys: new Set(ids.map((id) => messageKey(tenant, String(id)))) }
  }
  return EVERYTHING
}

interface Entry {
  readonly tenant: string
  readonly profileId: string
  readonly deps: ReadonlyArray<string>
  readonly expires: number
  readonly generation: string | undefined
  readonly precedence: TraitPrecedence | undefined
  readonly policies: ConsentPolicies | undefined
  /**
   * The answer as its JSON text: one string rather than a tree of a few hundred objects, so the answers a busy server
   * keeps cost the garbage collector's young-generation copies little (each answer kept is copied by a scavenge or two
   * before it settles; as objects, those copies paused every request 20-30 ms on two cores). A hit parses it: a copy
   * of its own, which whoever answers may mask or trim.
   */
  readonly body: string
}

/** A read on its way: the writes that ended while it ran (it is answered, but not kept, if one reaches it). */
interface InFlight {
  readonly reaches: Array<Reach>
}

/** One server's cache: its answers, an index from what they depend on to them, and the reads under way. */
class ProfileCache {
  private readonly entries = new Map<string, Entry>()
  /** What each dependency's answers are: one answer's key (most keys have one) or a set of them. */
  private readonly byDep = new Map<string, string | Set<string>>()
  private readonly inFlight = new Set<InFlight>()
  /** Each identifier's profile as a kept answer found it, until a write reaches the identifier. */
  private readonly owners = new Map<string, string>()
  private dependencies = 0
  private running: Promise<string> | undefined
  private queued: Promise<string> | undefined
  hits = 0
  misses = 0
  /** Answers dropped by writes that reached them (for the bench and tests). */
  dropped = 0

  private readonly warehouse: WarehouseShape
  /** With a ClickHouse server other processes write too: hits are checked against the storage generation. */
  readonly shared: boolean

  /** Profile documents kept current (embedded warehouse only: a server's other writers are not heard). */
  readonly keeper: DocumentKeeper | undefined

  constructor(warehouse: WarehouseShape) {
    this.warehouse = warehouse
    this.shared = warehouse.backend.kind === "server"
    this.keeper = this.shared ? undefined : new DocumentKeeper(warehouse)
    onWarehouseWrite(warehouse, (write) => {
      const reach = reachOf(write)
      this.wrote(reach)
      // The documents' own table is no read's, but a command on it (an erasure's) must drop any document being built:
      // of its tenant when it said which (WritesOfTenant), of every tenant otherwise.
      const onDocuments = write.kind === "command" && commandTable(write.sql) === "profile_documents"
      this.keeper?.hear(!onDocuments ? reach : write.tenant === undefined ? EVERYTHING : tenantReach(write.tenant))
    })
    this.keeper?.start()
  }

  private wrote(reach: Reach) {
    if (reach === NOTHING) return
    for (const read of this.inFlight) read.reaches.push(reach)
    if (reach.all) {
      this.dropped += this.entries.size
      this.entries.clear()
      this.byDep.clear()
      this.owners.clear()
      this.dependencies = 0
      return
    }
    if (reach.tenants.size > 0) {
      for (const [key, e] of this.entries) if (reach.tenants.has(e.tenant)) this.drop(key)
      for (const key of this.owners.keys()) if (reach.tenants.has(key.split("\u0000")[1]!)) this.owners.delete(key)
    }
    for (const dep of reach.keys) {
      if (dep.startsWith("i")) this.owners.delete(dep)
      const keys = this.byDep.get(dep)
      if (typeof keys === "string") this.drop(keys)
      else if (keys !== undefined) for (const key of [...keys]) this.drop(key)
    }
  }

  private drop(key: string, byWrite = true) {
    const e = this.entries.get(key)
    if (e === undefined) return
    this.entries.delete(key)
    if (byWrite) this.dropped++
    this.dependencies -= e.deps.length
    for (const dep of e.deps) {
      const keys = this.byDep.get(dep)
      if (keys === key) this.byDep.delete(dep)
      else if (typeof keys !== "string" && keys !== undefined) {
        keys.delete(key)
        if (keys.size === 1) this.byDep.set(dep, keys.values().next().value!)
      }
    }
  }

  begin(): InFlight {
    const read: InFlight = { reaches: [] }
    this.inFlight.add(read)
    return read
  }

  end(read: InFlight) {
    this.inFlight.delete(read)
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

  get(key: string, generation: string | undefined, precedence: TraitPrecedence | undefined, policies: ConsentPolicies | undefined) {
    const e = this.entries.get(key)
    if (e === undefined || e.generation !== generation || e.precedence !== precedence || e.policies !== policies) return undefined
    if (e.expires <= Date.now()) {
      this.drop(key, false)
      return undefined
    }
    // Most recently used last: eviction takes the first.
    this.entries.delete(key)
    this.entries.set(key, e)
    return JSON.parse(e.body) as ProfileWithConsent
  }

  /** Whose an identifier is, as a kept answer or a trusted document found it (until a write reaches the identifier). */
  owner(tenant: string, ref: IdentifierRef): string | undefined {
    if (ref._tag !== "identifier") return undefined
    return this.owners.get(identifierKey(tenant, ref.kind, ref.value)) ?? this.keeper?.owner(tenant, ref.kind, ref.value)
  }

  /** Keeps an answer unless a write that ended while it was read reaches what it was read from. */
  set(key: string, read: InFlight, entry: Entry, ref: IdentifierRef) {
    const deps = new Set(entry.deps)
    const reached = read.reaches.some((r) =>
      r.all || r.tenants.has(entry.tenant) || [...r.keys].some((k) => deps.has(k)))
    if (reached) return false
    this.drop(key, false)
    this.entries.set(key, entry)
    this.dependencies += entry.deps.length
    for (const dep of entry.deps) {
      const keys = this.byDep.get(dep)
      if (keys === undefined || keys === key) this.byDep.set(dep, key)
      else if (typeof keys === "string") this.byDep.set(dep, new Set([keys, key]))
      else keys.add(key)
    }
    while (this.entries.size > PROFILE_CACHE_ENTRIES || this.dependencies > MAX_DEPENDENCIES) this.drop(this.entries.keys().next().value!, false)
    if (ref._tag === "identifier") {
      if (this.owners.size >= PROFILE_CACHE_ENTRIES * 4) this.owners.clear()
      this.owners.set(identifierKey(entry.tenant, ref.kind, ref.value), entry.profileId)
    }
    return true
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

/** Hits, misses and answers dropped by writes of a server's profile cache (for the bench and tests). */
export const profileCacheStats = (warehouse: WarehouseShape) => {
  const c = caches.get(warehouse)
  return { hits: c?.hits ?? 0, misses: c?.misses ?? 0, dropped: c?.dropped ?? 0 }
}

/** The profile documents of a server's cache: how many were built and trusted, reads they answered; whether all are built. */
export const profileDocumentStats = (warehouse: WarehouseShape) => {
  const keeper = caches.get(warehouse)?.keeper
  return {
    ...(keeper?.stats ?? { built: 0, trusted: 0, answered: 0, failed: 0, buildMs: 0, ownersKnown: 0 }), idle: keeper?.idle ?? true,
    pending: keeper?.pending ?? { step: "nothing", profiles: 0, tenants: 0, all: false },
  }
}

/** Starts keeping profile documents for a server (its cache is made now rather than at its first read). */
export const keepProfileDocuments = (warehouse: WarehouseShape) => {
  cacheOf(warehouse)
}

/**
 * When an answer read at `now` goes: MAX_AGE_MS later, or when it ends by itself (`until`, answerEnd), as its
 * document does; undefined (not kept) when that has passed already.
 */
const expiry = (now: number, until: number | null) =>
  until === null ? now + MAX_AGE_MS : until <= now ? undefined : Math.min(now + MAX_AGE_MS, until)

/** The keys an answer depends on: its profile, the profiles its messages landed under, its messages, its identifier. */
const depsOf = (tenant: string, ref: IdentifierRef, scope: ReadScope): Array<string> | undefined => {
  // Without the landing profiles (a huge moved-in set) the answer cannot be placed: it is not kept.
  if (scope.landed === undefined || scope.ids.length > MAX_CACHED_MESSAGES) return undefined
  const deps = [profileKey(tenant, scope.profileId)]
  for (const p of Object.keys(scope.landed)) if (p !== scope.profileId) deps.push(profileKey(tenant, p))
  for (const id of scope.ids) deps.push(messageKey(tenant, id))
  if (ref._tag === "identifier") deps.push(identifierKey(tenant, ref.kind, ref.value))
  return deps
}

/**
 * readProfile through the server's cache. Failures (an unknown person) are not cached. With a ClickHouse server, a
 * failed catalogue read means the profile is read (the warehouse then answers or fails as it would have).
 */
export const readProfileCached = (options: {
  readonly warehouse: WarehouseShape
  readonly tenant: string
  readonly identifier: string
  readonly recent: number
  readonly identity: IdentityConfig
  readonly precedence: TraitPrecedence | undefined
  readonly policies: ConsentPolicies | undefined
  /**
   * Wraps what a miss reads from the warehouse (the route's per-tenant turn): a hit costs no statement and never
   * waits for it, and a miss looks in the cache again once its turn comes (the read before it may have kept the answer).
   */
  readonly missTurn?: <A, E, R>(read: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}) =>
  Effect.gen(function* () {
    const cache = cacheOf(options.warehouse)
    const key = `${options.tenant}\u0000${options.recent}\u0000${options.identifier}`
    // Registered before anything is read, so every write that ends from here on is seen by this read.
    const read = cache.begin()
    return yield* Effect.gen(function* () {
      const generation = cache.shared ? yield* Effect.promise(() => cache.generation().catch(() => null)) : undefined
      const kept = () => {
        const hit = generation === null ? undefined : cache.get(key, generation, options.precedence, options.policies)
        if (hit === undefined) return undefined
        cache.hits++
        // Parsed from the kept text: a copy of its own, which whoever answers may mask or trim.
        return hit
      }
      const miss = Effect.gen(function* () {
        cache.misses++
        // An answer dropped by a write to its profile still knows whose it was: the identifier is not looked up again.
        const keeper = cache.keeper
        const { body, ref, scope, until, fromDocument } = yield* readProfileFrom(
          options.tenant, options.identifier, options.recent, options.identity, options.precedence, (r) => cache.owner(options.tenant, r),
          keeper === undefined ? undefined : (tenant, profileId, built) => keeper.current(tenant, profileId, built), true,
        ).pipe(
          Effect.provideService(Warehouse, options.warehouse),
          Effect.provideService(ConsentPoliciesRef, options.policies ?? DEFAULT_POLICIES),
        )
        if (fromDocument && keeper !== undefined) keeper.stats.answered++
        const deps = depsOf(options.tenant, ref, scope)
        const expires = expiry(Date.now(), until)
        if (generation !== null && deps !== undefined && expires !== undefined) {
          cache.set(key, read, {
            tenant: options.tenant, profileId: body.profileId, deps, expires, generation, precedence: options.precedence, policies: options.policies,
            body: JSON.stringify(body),
          }, ref)
        }
        return body
      })
      const hit = kept()
      if (hit !== undefined) return hit
      const turn = options.missTurn ?? (<A, E, R>(e: Effect.Effect<A, E, R>) => e)
      return yield* turn(Effect.suspend(() => {
        const waited = kept()
        return waited === undefined ? miss : Effect.succeed(waited)
      }))
    }).pipe(Effect.ensuring(Effect.sync(() => cache.end(read))))
  })
