// Keeps profile documents (profile_documents, migration 083) current for `cdp serve` on the embedded warehouse, and
// says which stored documents a read may use. It hears every write this process makes (warehouse/writes.ts), as the
// profile read cache does and with the same reach: a write makes the documents of the profiles it reaches untrusted
// at once (before the write's caller is answered, so a read after a collector's 2xx never gets a document older than
// what it landed), and those profiles are built again in batches of DOCUMENT_BATCH, a statement a batch and one per
// DOCUMENT_STATEMENT_MESSAGES of their messages (warehouse/profile-documents.ts), on the background connection. A
// document is trusted only when no write reached its profile, its messages, its tenant or everything while it was
// built; a read of an untrusted profile reads the profile as before.
// Nothing is trusted at start: every profile is built once first. A document with an end (the UTC midnight after
// it was built when its tenant has computed traits in day windows; a restriction recorded to take effect later) is
// built again then. Not used with a ClickHouse server, where other processes write unheard.
import { Effect } from "effect"
import { buildProfileDocuments } from "../identity/index.ts"
import { besideErasures } from "../warehouse/erasure.ts"
import { identifierOwners } from "../warehouse/identity.ts"
import { storeDocuments } from "../warehouse/profile-documents.ts"
import { backgroundReads, Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"

/** What a write reaches (ingest/profile-read.ts reachOf): everything, tenants, or keys (`p`rofile, `m`essage, `i`dentifier). */
export interface DocumentReach {
  readonly all: boolean
  readonly tenants: ReadonlySet<string>
  readonly keys: ReadonlySet<string>
}

/** Profiles built per batch: measured at 200,000 events, 500 a batch cost 1.7 ms a profile, 100 a batch 3 ms. */
export const DOCUMENT_BATCH = 500

/** How long the writes that follow one are gathered before a build starts (ms). */
const GATHER_MS = 20

/**
 * While writes keep coming (one heard within LANDING_MS), each build is followed by a pause of YIELD_FACTOR times its
 * own length, so the keeper takes at most a quarter of the time the landing could use: h7's probe measured landing
 * 27-41% slower with documents kept flat out beside a flood, whose documents were untrusted again by the next batch
 * anyway. Reads of profiles not yet built again are read as before meanwhile; once writes stop, building runs on.
 */
const LANDING_MS = 1_000
const YIELD_FACTOR = 3

/** Identifiers whose owner is known from documents at most (about 100 bytes each); past it they are forgotten at once. */
const MAX_OWNERS = 500_000

/** A trusted document: its build, and its messages' hashes (a write to a message reaches the profile holding it). */
interface Trusted {
  readonly built: number
  readonly hashes: Uint32Array
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())

const keyOf = (tenant: string, profileId: string) => `${tenant}\u0000${profileId}`

/** FNV-1a of a tenant's message id, 30 bits (a small integer key); a collision only makes another document untrusted. */
const hashOf = (tenant: string, messageId: string) => {
  let h = 0x811c9dc5
  const text = `${tenant}\u0000${messageId}`
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return (h >>> 2)
}

export class DocumentKeeper {
  private readonly trusted = new Map<string, Trusted>()
  /** Message hash to the trusted documents holding it (one key, or several on a collision). */
  private readonly byMessage = new Map<number, string | Array<string>>()
  /** Profiles to build, by tenant. */
  private readonly wanted = new Map<string, Set<string>>()
  /** Tenants whose every profile is to be built; every tenant when `wantAll`. */
  private readonly wantedTenants = new Set<string>()
  private wantAll = true
  /** The reaches heard while each build runs. */
  private readonly building = new Set<Array<DocumentReach>>()
  private running = false
  /** What the building loop awaits now (for a test that waits for it to be idle, to say what it waited on). */
  private step = "nothing"
  private lastBuilt = 0
  /** Trusted documents with an end (computed traits' day windows, a restriction taking effect later), and the next wake. */
  private readonly ends = new Map<string, number>()
  private wake: { readonly at: number; readonly timer: ReturnType<typeof setTimeout> } | undefined
  /**
   * Per tenant, who holds each identifier (`kind\u0000value`) now, learned when a document showing it was trusted:
   * a read by that identifier then reads the document by its profile's key, without looking the owner up. Every change
   * of an identifier's owner writes its identity_nodes row, whose write reaches the identifier and forgets it here.
   */
  private readonly owners = new Map<string, Map<string, string>>()
  private ownerCount = 0
  /**
   * Documents built and trusted, reads answered from one, batches that failed, identifiers whose owner was known
   * from a document when read (for the bench and tests).
   */
  readonly stats = { built: 0, trusted: 0, answered: 0, failed: 0, buildMs: 0, ownersKnown: 0 }

  private readonly warehouse: WarehouseShape
  /** When the last write that reached anything was heard (ms). */
  private lastWrite = 0

  constructor(warehouse: WarehouseShape) {
    this.warehouse = warehouse
  }

  /** The profile holding an identifier (kind, normalised value) now, when a trusted document showed it. */
  owner(tenant: string, kind: string, value: string): string | undefined {
    const owner = this.owners.get(tenant)?.get(`${kind}\u0000${value}`)
    if (owner !== undefined) this.stats.ownersKnown++
    return owner
  }

  private learnOwner(tenant: string, identifier: string, profileId: string) {
    if (this.ownerCount >= MAX_OWNERS) this.forgetOwners()
    let map = this.owners.get(tenant)
    if (map === undefined) this.owners.set(tenant, map = new Map())
    if (!map.has(identifier)) this.ownerCount++
    map.set(identifier, profileId)
  }

  private forgetOwners(tenant?: string) {
    if (tenant === undefined) {
      this.owners.clear()
      this.ownerCount = 0
      return
    }
    this.ownerCount -= this.owners.get(tenant)?.size ?? 0
    this.owners.delete(tenant)
  }

  /** Whether the stored document of `profileId` built at `built` is current (nothing it holds changed since). */
  current(tenant: string, profileId: string, built: number): boolean {
    return this.trusted.get(keyOf(tenant, profileId))?.built === built
  }

  /** What is left: the step under way and the profiles and tenants wanted. */
  get pending(): { readonly step: string; readonly profiles: number; readonly tenants: number; readonly all: boolean } {
    let profiles = 0
    for (const set of this.wanted.values()) profiles += set.size
    return { step: this.running ? this.step : "nothing", profiles, tenants: this.wantedTenants.size, all: this.wantAll }
  }

  /** Whether nothing is left to build (documents of every profile are current or being built). */
  get idle(): boolean {
    return !this.running && !this.wantAll && this.wantedTenants.size === 0 && this.wanted.size === 0
  }

  /** A write was made: what it reaches is untrusted now, and built again soon. */
  hear(reach: DocumentReach): void {
    if (!reach.all && reach.tenants.size === 0 && reach.keys.size === 0) return
    this.lastWrite = Date.now()
    for (const reaches of this.building) reaches.push(reach)
    if (reach.all) {
      this.trusted.clear()
      this.byMessage.clear()
      this.ends.clear()
      this.wanted.clear()
      this.forgetOwners()
      this.wantAll = true
    }
    for (const tenant of reach.tenants) {
      for (const key of [...this.trusted.keys()]) if (key.startsWith(`${tenant}\u0000`)) this.untrust(key)
      this.forgetOwners(tenant)
      this.wantedTenants.add(tenant)
    }
    for (const key of reach.keys) {
      if (key.startsWith("i\u0000")) {
        // An identifier: i, tenant, kind, value.
        const at = key.indexOf("\u0000", 2)
        const map = this.owners.get(key.slice(2, at))
        if (map?.delete(key.slice(at + 1))) this.ownerCount--
        continue
      }
      const [kind, tenant, id] = key.split("\u0000")
      if (tenant === undefined || id === undefined) continue
      if (kind === "p") this.want(tenant, id)
      else if (kind === "m") {
        const held = this.byMessage.get(hashOf(tenant, id))
        // Each holder by its own key (a collision may name another tenant's document: it is built again too).
        for (const k of held === undefined ? [] : typeof held === "string" ? [held] : [...held]) {
          const at = k.indexOf("\u0000")
          this.want(k.slice(0, at), k.slice(at + 1))
        }
      }
    }
    this.schedule()
  }

  /** Starts building (at start-up: every profile). */
  start(): void {
    this.schedule()
  }

  /**
   * A trusted document is used until `until`: it is built again then. One that ended already (a row past its TTL
   * the engine has not removed yet) is looked at again a minute later, not at once.
   */
  private endsAt(key: string, until: number) {
    this.ends.set(key, until)
    const at = until <= Date.now() ? Date.now() + 60_000 : until
    if (this.wake === undefined || at < this.wake.at) this.arm(at)
  }

  private arm(at: number) {
    if (this.wake !== undefined) clearTimeout(this.wake.timer)
    // At most ~24 days ahead (setTimeout's limit): an earlier wake arms the next one.
    const timer = setTimeout(() => this.woke(), Math.min(2 ** 31 - 1, Math.max(0, at - Date.now() + 50)))
    timer.unref()
    this.wake = { at, timer }
  }

  private woke() {
    this.wake = undefined
    const now = Date.now()
    let next = Number.POSITIVE_INFINITY
    for (const [key, until] of [...this.ends]) {
      if (until <= now) {
        const at = key.indexOf("\u0000")
        this.want(key.slice(0, at), key.slice(at + 1))
      } else next = Math.min(next, until)
    }
    if (next < Number.POSITIVE_INFINITY) this.arm(next)
    this.schedule()
  }

  private want(tenant: string, profileId: string) {
    this.untrust(keyOf(tenant, profileId))
    let set = this.wanted.get(tenant)
    if (set === undefined) this.wanted.set(tenant, set = new Set())
    set.add(profileId)
  }

  private untrust(key: string) {
    const t = this.trusted.get(key)
    if (t === undefined) return
    this.trusted.delete(key)
    this.ends.delete(key)
    for (const h of t.hashes) {
      const held = this.byMessage.get(h)
      if (held === key) this.byMessage.delete(h)
      else if (Array.isArray(held)) {
        const rest = held.filter((k) => k !== key)
        this.byMessage.set(h, rest.length === 1 ? rest[0]! : rest)
      }
    }
  }

  private trust(tenant: string, profileId: string, built: number, ids: ReadonlyArray<string>) {
    const key = keyOf(tenant, profileId)
    this.untrust(key)
    const hashes = Uint32Array.from(ids, (id) => hashOf(tenant, id))
    for (const h of hashes) {
      const held = this.byMessage.get(h)
      this.byMessage.set(h, held === undefined ? key : typeof held === "string" ? (held === key ? key : [held, key]) : held.includes(key) ? held : [...held, key])
    }
    this.trusted.set(key, { built, hashes })
  }

  private schedule() {
    if (this.running) return
    this.running = true
    // A landing is several writes (texts, sentiment, event rows, identity, consent): built once, after the last.
    setTimeout(() => void this.drain(), GATHER_MS).unref()
  }

  private run<A, E>(effect: Effect.Effect<A, E, Warehouse>): Promise<A> {
    return Effect.runPromise(effect.pipe(Effect.provideService(Warehouse, this.warehouse)))
  }

  /** Builds until nothing is wanted; a failed batch (the warehouse closed) leaves its profiles untrusted and stops. */
  private async drain() {
    try {
      for (;;) {
        if (this.wantAll) {
          this.wantAll = false
          this.step = "reading tenants"
          const tenants = await this.run(backgroundReads(Effect.gen(function* () {
            return yield* (yield* Warehouse).query<{ tenant: string }>("SELECT DISTINCT tenant FROM event_rows")
          })))
          for (const t of tenants) this.wantedTenants.add(t.tenant)
        }
        const tenant = this.wantedTenants.values().next().value
        if (tenant !== undefined) {
          this.wantedTenants.delete(tenant)
          this.step = "reading a tenant's profiles"
          const rows = await this.run(backgroundReads(Effect.gen(function* () {
            return yield* (yield* Warehouse).query<{ p: string }>(
              "SELECT DISTINCT profile_id AS p FROM event_rows WHERE tenant = {tenant:String} UNION DISTINCT " +
                "SELECT DISTINCT profile_id AS p FROM event_profiles WHERE tenant = {tenant:String}", { params: { tenant } })
          })))
          for (const r of rows) this.want(tenant, r.p)
          continue
        }
        const next = this.wanted.entries().next().value
        if (next === undefined) break
        const [t, set] = next
        const batch = [...set].slice(0, DOCUMENT_BATCH)
        for (const p of batch) set.delete(p)
        if (set.size === 0) this.wanted.delete(t)
        const started = performance.now()
        await this.build(t, batch)
        this.step = "pausing for the landing"
        if (Date.now() - this.lastWrite < LANDING_MS) await sleep(YIELD_FACTOR * (performance.now() - started))
      }
    } catch {
      this.stats.failed++
      this.wanted.clear()
      this.wantedTenants.clear()
    } finally {
      this.running = false
    }
  }

  private async build(tenant: string, profiles: ReadonlyArray<string>) {
    const reaches: Array<DocumentReach> = []
    this.building.add(reaches)
    const started = performance.now()
    try {
      const built = Math.max(Date.now(), this.lastBuilt + 1)
      this.lastBuilt = built
      const setStep = (step: string) => Effect.sync(() => { this.step = step })
      // Read and stored beside no erasure of the tenant (besideErasures): documents read before one and stored after
      // it would hold the erased person again, in a table the erasure had just emptied of the tenant's documents.
      const read = await this.run(besideErasures(tenant)(Effect.gen(function* () {
        yield* setStep(`reading ${profiles.length} profiles`)
        const { documents, scopes, identifiers } = yield* backgroundReads(buildProfileDocuments(tenant, profiles, built))
        const owners = yield* backgroundReads(identifierOwners(tenant, [...identifiers.values()].flat()))
        // Anything reaching everything while this was read: its documents may hold what it removed.
        if (reaches.some((r) => r.all)) return undefined
        yield* setStep(`storing ${documents.length} documents`)
        yield* storeDocuments(tenant, documents)
        return { documents, scopes, identifiers, owners }
      })))
      if (read === undefined) return
      const { documents, scopes, identifiers, owners } = read
      this.stats.built += documents.length
      const reachedTenant = reaches.some((r) => r.all || r.tenants.has(tenant))
      for (const d of documents) {
        const scope = scopes.get(d.profileId)!
        const reached = reachedTenant || reaches.some((r) =>
          r.keys.has(`p\u0000${tenant}\u0000${d.profileId}`) || scope.ids.some((id) => r.keys.has(`m\u0000${tenant}\u0000${id}`)))
        // Reached while it was built: wanted again (the write said so), not trusted.
        if (reached) continue
        this.trust(tenant, d.profileId, d.built, scope.ids)
        for (const [kind, value] of identifiers.get(d.profileId) ?? []) {
          const identifier = `${kind}\u0000${value}`
          if (owners.get(identifier) === d.profileId && !reaches.some((r) => r.keys.has(`i\u0000${tenant}\u0000${identifier}`))) {
            this.learnOwner(tenant, identifier, d.profileId)
          }
        }
        if (d.until !== null) this.endsAt(keyOf(tenant, d.profileId), d.until)
        this.stats.trusted++
      }
    } finally {
      this.building.delete(reaches)
      this.stats.buildMs += performance.now() - started
    }
  }
}
