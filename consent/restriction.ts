// GDPR Art. 18 restriction of processing, attached to the subject's own identifiers (keyed hashes) rather than to the
// profile id of the day: which profiles are restricted is worked out when asked, through the identity mapping of
// that moment. A profile holding any restricted identifier is restricted, so a merge carries a restriction to the
// profile it merges into, and a split leaves it with whichever part holds the identifier. Restrictions recorded by
// profile id before (profile_restrictions) still count.
//
// The keyed hash cannot be computed by the warehouse (the secret stays with the application), so the mapping is
// resolved here: the restricted keys are few; the tenant's identifiers of those kinds are hashed once to find which
// identifier each key stands for, remembered in memory (identity holds the same values), and looked up again only when
// the identity graph has changed since a key was last looked for. Without the deployment's keys a restriction cannot
// be resolved: then, if any is in force, every profile counts as restricted (fail closed) and a warning is logged.
import { Effect, Option } from "effect"
import { currentNodes, profileNodes } from "../warehouse/identity.ts"
import { restrictedProfiles as restrictedByProfileId, restrictedSubjectKeys, storeRestriction, storeSubjectRestriction } from "../warehouse/dsr.ts"
import { Warehouse } from "../warehouse/warehouse.ts"
import { identifierKey, Keys, type KeysShape } from "./keys.ts"
import type { Subject } from "./subject.ts"

/** Per tenant: keyed hash -> the identifier it stands for, once found. */
const resolved = new Map<string, Map<string, { readonly kind: string; readonly value: string }>>()
/** Per tenant: the identity graph's version at the last search for keys not yet found, and those keys. */
const searched = new Map<string, { readonly version: string; readonly keys: ReadonlySet<string> }>()

const graphVersion = (tenant: string) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const [row] = yield* warehouse.query<{ v: string }>(
      "SELECT toString(max(version)) AS v FROM identity_nodes WHERE tenant = {tenant:String}", { params: { tenant } })
    return row?.v ?? "0"
  })

/** The identifiers the restricted keys stand for (those identity knows now). */
const identifiersOf = (keys: KeysShape, tenant: string, restricted: ReadonlyArray<{ readonly key: string; readonly kind: string }>) =>
  Effect.gen(function* () {
    const known = resolved.get(tenant) ?? new Map<string, { kind: string; value: string }>()
    resolved.set(tenant, known)
    const missing = restricted.filter((r) => !known.has(r.key))
    if (missing.length > 0) {
      const version = yield* graphVersion(tenant)
      const last = searched.get(tenant)
      if (last === undefined || last.version !== version || missing.some((m) => !last.keys.has(m.key))) {
        const wanted = new Set(missing.map((m) => m.key))
        for (const n of yield* currentNodes(tenant, [...new Set(missing.map((m) => m.kind))])) {
          const k = identifierKey(keys, tenant, n.kind, n.value)
          if (wanted.has(k)) known.set(k, { kind: n.kind, value: n.value })
        }
        searched.set(tenant, { version, keys: wanted })
      }
    }
    return restricted.flatMap((r) => {
      const id = known.get(r.key)
      return id === undefined ? [] : [id]
    })
  })

const noKeys = (tenant: string) =>
  Effect.logWarning("restrictions are in force but the deployment's keys are not available: every profile is treated as restricted")
    .pipe(Effect.annotateLogs({ tenant }))

/**
 * Every profile of the tenant restricted at `atMs` (default now) through an identifier-attached restriction, as
 * current profile ids; "all" when restrictions are in force but cannot be resolved (no keys).
 */
export const identifierRestrictedProfiles = Effect.fn("identifierRestrictedProfiles")(function* (tenant: string, atMs?: number) {
  const restricted = yield* restrictedSubjectKeys(tenant, atMs)
  if (restricted.length === 0) return new Set<string>()
  const keys = yield* Effect.serviceOption(Keys)
  if (Option.isNone(keys)) {
    yield* noKeys(tenant)
    return "all" as const
  }
  const ids = yield* identifiersOf(keys.value, tenant, restricted)
  if (ids.length === 0) return new Set<string>()
  const wanted = new Set(ids.map((i) => `${i.kind}\u0000${i.value}`))
  const nodes = yield* currentNodes(tenant, [...new Set(ids.map((i) => i.kind))])
  return new Set(nodes.filter((n) => wanted.has(`${n.kind}\u0000${n.value}`)).map((n) => n.profile_id))
})

/**
 * The profiles among `profileIds` restricted by an identifier they hold now, given the tenant's restricted keys, plus
 * `byId` (those restricted by profile id): all of them when restrictions are in force but the keys are not available.
 */
const restrictedAmong = (
  tenant: string, profileIds: ReadonlyArray<string>, byId: ReadonlySet<string>, restricted: ReadonlyArray<{ readonly key: string }>,
) =>
  Effect.gen(function* () {
    const out = new Set(byId)
    if (profileIds.length === 0 || restricted.length === 0) return out
    const keys = yield* Effect.serviceOption(Keys)
    if (Option.isNone(keys)) {
      yield* noKeys(tenant)
      return new Set(profileIds)
    }
    const wanted = new Set(restricted.map((r) => r.key))
    for (const profileId of profileIds) {
      if (out.has(profileId)) continue
      const nodes = yield* profileNodes(tenant, profileId)
      if (nodes.some((n) => wanted.has(identifierKey(keys.value, tenant, n.kind, n.value)))) out.add(profileId)
    }
    return out
  })

/** The profiles among these that are restricted at `atMs` (default now): by an identifier they hold now, or by id. */
export const restrictedProfiles = Effect.fn("restrictedProfiles")(function* (tenant: string, profileIds: ReadonlyArray<string>, atMs?: number) {
  const byId = yield* restrictedByProfileId(tenant, profileIds, atMs)
  if (profileIds.length === 0) return new Set(byId)
  return yield* restrictedAmong(tenant, profileIds, byId, yield* restrictedSubjectKeys(tenant, atMs))
})

/** Whether one profile is restricted, given what a read already found: restricted by id, and the tenant's restricted keys. */
export const profileRestricted = (
  tenant: string, profileId: string, byId: boolean, restricted: ReadonlyArray<{ readonly key: string }>,
) => Effect.map(restrictedAmong(tenant, [profileId], new Set(byId ? [profileId] : []), restricted), (out) => out.has(profileId))

/**
 * Restricts the subject (or lifts it) from `atMs`: their own identifiers (not those shared with other people: a
 * family's device must not restrict the family) as keyed hashes. A lift also lifts restrictions recorded by profile
 * id before identifiers were used. Returns how many identifiers were marked.
 */
export const restrictSubject = Effect.fn("restrictSubject")(function* (subject: Subject, restricted: boolean, requestId: string, atMs: number) {
  const keys = yield* Keys
  const own = new Map(subject.identifiers.filter((i) => !i.shared)
    .map((i) => [identifierKey(keys, subject.tenant, i.kind, i.value), i.kind] as const))
  yield* storeSubjectRestriction(subject.tenant, [...own].map(([key, kind]) => ({ key, kind })), restricted, requestId, atMs)
  if (!restricted) yield* storeRestriction(subject.tenant, subject.profileIds, false, requestId, atMs)
  return own.size
})
