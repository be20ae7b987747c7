// The profile_documents table (migration 083): one stored document per profile, read by its key (with the
// identifier's owner looked up in the same statement) and written in batches. What a document holds and when it may
// be used is ingest/profile-documents.ts's.
import { Effect } from "effect"
import { stateAggregatesByProfileColumns, tenantDefinitions } from "./computed-traits.ts"
import { consentOfScopesColumns, type ProfileConsentRows } from "./consent.ts"
import {
  identifierGroups, mergedParams, OWNER_SQL, profileReadScopesOf, type ProfileSummary, type ReadScope, type ScopeOwner, SUMMARY_IN_PROCESS_MAX, summaryOfRows,
  type SummaryRow,
} from "./profiles.ts"
import { Warehouse } from "./warehouse.ts"

// A merge as the read's MERGES_SQL gives it (warehouse/profiles.ts).
const MERGE_TUPLE = "(kind, from_profile, to_profile, toString(messages), reason, toString(at))"

export interface StoredDocument {
  readonly profileId: string
  /** When it was built (ms since the epoch): its version. */
  readonly built: number
  readonly document: string
}

/**
 * The newest document of a profile, by id or by whoever holds an identifier now (one statement either way);
 * undefined when there is none (or nobody holds the identifier).
 */
export const readStoredDocument = Effect.fn("readStoredDocument")(function* (tenant: string, owner: ScopeOwner) {
  const warehouse = yield* Warehouse
  const byId = "profileId" in owner
  const rows = yield* warehouse.query<{ profile_id: string; built: string; document: string }>(
    `SELECT profile_id, toString(built) AS built, document FROM profile_documents WHERE tenant = {tenant:String} ` +
      `AND profile_id = ${byId ? "{profile:String}" : OWNER_SQL} ORDER BY built DESC LIMIT 1`,
    { params: byId ? { tenant, profile: owner.profileId } : { tenant, kind: owner.kind, value: owner.value } })
  const row = rows[0]
  return row === undefined ? undefined : { profileId: row.profile_id, built: Number(row.built), document: row.document } satisfies StoredDocument
})

/** Writes documents (one insert for all of them). */
export const storeDocuments = Effect.fn("storeDocuments")(function* (tenant: string, documents: ReadonlyArray<StoredDocument>) {
  if (documents.length === 0) return
  const warehouse = yield* Warehouse
  yield* warehouse.insert("profile_documents", documents.map((d) => ({ tenant, profile_id: d.profileId, built: d.built, document: d.document })))
})

/**
 * Months of each table's retention TTL as warehouse/retention.ts sets it (`TTL toDateTime(col) + toIntervalMonth(N)`
 * in engine_full); "unknown" for a TTL of another form (its documents then hold 10 minutes, as the answer cache does).
 */
const ttlMonths = (tables: ReadonlyArray<[string, string]>) => {
  const out = new Map<string, number | "unknown">()
  for (const [name, engine] of tables) {
    if (!/\bTTL\b/.test(engine)) continue
    const m = /\bTTL toDateTime\(\w+\) \+ toIntervalMonth\((\d+)\)/.exec(engine)
    out.set(name, m === null ? "unknown" : Number(m[1]))
  }
  return out
}

/** `ms` plus `months` calendar months (UTC), the day clamped to the month's last: never later than the engine's. */
const addMonths = (ms: number, months: number) => {
  const d = new Date(ms)
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()))
  const last = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate()
  target.setUTCDate(Math.min(d.getUTCDate(), last))
  // toDateTime() drops the milliseconds: the engine's time is the whole second.
  return target.getTime()
}

/** One profile's parts of a document, read with many others' (readDocumentParts). */
export interface DocumentParts {
  /** A time (ms) from which a restriction recorded in advance takes effect, if any: the parts hold until then. */
  readonly restrictionFrom: number | undefined
  /**
   * When the first of its rows a retention TTL removes expires (ms), if any: the engine's merges remove it later,
   * unannounced, so the parts hold until then (CDP_RETENTION, warehouse/retention.ts).
   */
  readonly expiresAt: number | undefined
  readonly scope: ReadScope & { readonly gone: ReadonlyArray<string> }
  readonly summary: Omit<ProfileSummary, "also">
  /** The value of identifierPageColumns' column (the first page, DOCUMENT_IDENTIFIERS + 1 rows at most). */
  readonly identifiers: unknown
  /** The value of stateAggregatesColumns' column when the scope is whole (its states are its values), else undefined. */
  readonly computedStates: ReadonlyArray<unknown> | undefined
  readonly consent: ProfileConsentRows
}

/** Rows of the timeline (and recentEvents) a document holds: a read asking for more is read as before. */
export const DOCUMENT_EVENTS = 100
/** Identifiers of the first page a document holds (the read's default page). */
export const DOCUMENT_IDENTIFIERS = 100

type MergeRow = ProfileSummary["merges"][number]

/**
 * The parts of many profiles' documents in two statements whatever their number (the engine's fixed cost is paid per
 * statement and sub-read, not per profile): their read scopes (profileReadScopesOf, as a read finds them; one more
 * statement when messages were moved in), then everything else for all of them at once. Profiles without messages,
 * with more than SUMMARY_IN_PROCESS_MAX, or with more than MAX_MOVED_IN moved in, have no parts (their reads go as
 * before).
 */
export const readDocumentParts = Effect.fn("readDocumentParts")(function* (tenant: string, profiles: ReadonlyArray<string>, atMs: number) {
  const out = new Map<string, DocumentParts>()
  if (profiles.length === 0) return out
  const warehouse = yield* Warehouse
  const scopes = [...(yield* profileReadScopesOf(tenant, { profileIds: profiles })).values()]
    .filter((s) => s.landed !== undefined && s.ids.length > 0 && s.ids.length <= SUMMARY_IN_PROCESS_MAX)
  if (scopes.length === 0) return out
  const owners = new Map<string, string>()
  for (const s of scopes) for (const m of s.ids) owners.set(m, s.profileId)
  const ids = [...owners.keys()]
  const landing = [...new Set(scopes.flatMap((s) => Object.keys(s.landed ?? {})))]
  const definitions = yield* tenantDefinitions(tenant)
  // Computed traits from the states of each profile's landing profiles, when those are whole in it (as
  // computed-traits.ts landedProfiles says: every message that landed under them is the profile's now). A landing
  // profile shared by two profiles of the batch (a split) is whole in neither.
  const landingOwner = new Map<string, string>()
  const shared = new Set<string>()
  for (const s of scopes) {
    for (const l of Object.keys(s.landed ?? {})) {
      if (landingOwner.has(l)) shared.add(l)
      landingOwner.set(l, s.profileId)
    }
  }
  for (const l of shared) landingOwner.delete(l)
  const computed = definitions.length === 0 || landingOwner.size === 0 ? undefined : stateAggregatesByProfileColumns(tenant, landingOwner, definitions)
  const consent = consentOfScopesColumns(tenant, scopes, atMs)
  const owner = "transform(message_id, {doc_ids:Array(String)}, {doc_owners:Array(String)}, '')"
  const identifiers = `SELECT *, count() OVER (PARTITION BY owner) AS total FROM (${identifierGroups("tenant = {tenant:String} AND message_id IN {doc_ids:Array(String)}", false, owner)}) ` +
    `ORDER BY owner, kind, value LIMIT ${DOCUMENT_IDENTIFIERS + 1} BY owner`
  const also = {
    ...consent.columns, ...(computed?.columns ?? {}),
    landed_counts: "(SELECT groupArray((profile_id, toString(n))) FROM (SELECT profile_id, uniqExact(message_id) AS n FROM event_rows " +
      "WHERE tenant = {tenant:String} AND profile_id IN {doc_landing:Array(String)} GROUP BY profile_id))",
    // A restriction (or its lift) recorded to take effect later changes the consent read then: no document holds past it.
    restrictions_later: "(SELECT toString(toUnixTimestamp64Milli(min(at))) FROM (SELECT at FROM profile_restrictions WHERE tenant = {tenant:String} " +
      "AND at > {at:DateTime64(3, 'UTC')} UNION ALL SELECT at FROM subject_restrictions WHERE tenant = {tenant:String} AND at > {at:DateTime64(3, 'UTC')}))",
  }
  const [r] = yield* warehouse.query<Record<string, unknown> & {
    rows: Array<[string, SummaryRow, string]>
    merges_from: Array<[string, MergeRow]>
    merges_to: Array<[string, MergeRow]>
    sentiment: Array<[string, string, number, string]>
    identifiers: Array<[string, [string, string, string, string, string, string, string, string]]>
  }>(
    "SELECT (SELECT groupArray((message_id, (toString(channel), toString(toUnixTimestamp64Milli(timestamp)), toString(timestamp), message_id, " +
      "toString(source), toString(type), event, toUInt8(user_id != ''), if(traits = '{}', [], JSONExtractKeysAndValuesRaw(traits))), " +
      "toString(toUnixTimestamp64Milli(ingested_at)))) FROM event_rows " +
      "WHERE tenant = {tenant:String} AND profile_id IN {doc_landing:Array(String)} AND message_id IN {doc_ids:Array(String)}) AS rows, " +
      `(SELECT groupArray((from_profile, ${MERGE_TUPLE})) FROM profile_merges WHERE tenant = {tenant:String} AND from_profile IN {doc_profiles:Array(String)}) AS merges_from, ` +
      `(SELECT groupArray((to_profile, ${MERGE_TUPLE})) FROM profile_merges WHERE tenant = {tenant:String} AND to_profile IN {doc_profiles:Array(String)} AND from_profile != to_profile) AS merges_to, ` +
      "(SELECT groupArray((message_id, toString(label), score, toString(timestamp))) FROM sentiment WHERE tenant = {tenant:String} " +
      "AND message_id IN {doc_ids:Array(String)} AND status = 'scored') AS sentiment, " +
      // The rows' times retention TTLs count from, and the TTLs (warehouse/retention.ts RETENTION_TABLES).
      "(SELECT groupArray((message_id, toString(toUnixTimestamp64Milli(m)))) FROM (SELECT message_id, min(scored_at) AS m FROM sentiment " +
      "WHERE tenant = {tenant:String} AND message_id IN {doc_ids:Array(String)} GROUP BY message_id)) AS sentiment_kept, " +
      "(SELECT groupArray((message_id, toString(toUnixTimestamp64Milli(m)))) FROM (SELECT message_id, min(observed_at) AS m FROM identity_observations " +
      "WHERE tenant = {tenant:String} AND message_id IN {doc_ids:Array(String)} GROUP BY message_id)) AS observed_kept, " +
      "(SELECT groupArray((name, engine_full)) FROM system.tables WHERE database = currentDatabase() " +
      "AND name IN ('event_rows', 'sentiment', 'identity_observations')) AS ttls, " +
      "(SELECT arraySort(x -> (x.1, x.2.1, x.2.2), groupArray((owner, (kind, value, raw, trust, toString(first), toString(last), toString(n), toString(total))))) " +
      `FROM (${identifiers})) AS identifiers` +
      Object.entries(also).map(([name, sql]) => `, ${sql} AS ${name}`).join(""),
    {
      params: mergedParams(consent.params, computed?.params ?? {}, {
        tenant, doc_profiles: scopes.map((s) => s.profileId), doc_ids: ids, doc_owners: ids.map((m) => owners.get(m)!), doc_landing: landing,
      }),
    })
  const per = <T>() => new Map<string, Array<T>>()
  const push = <T>(map: Map<string, Array<T>>, key: string, value: T) => {
    const list = map.get(key)
    if (list === undefined) map.set(key, [value])
    else list.push(value)
  }
  const rowsOf = per<SummaryRow>()
  // Per profile, when its first row a TTL removes expires.
  const ttl = ttlMonths((r?.["ttls"] ?? []) as Array<[string, string]>)
  const expiresOf = new Map<string, number>()
  const expiring = (m: string, table: string, ms: string) => {
    const months = ttl.get(table)
    if (months === undefined) return
    const p = owners.get(m) ?? ""
    const at = months === "unknown" ? Date.now() + 10 * 60_000 : addMonths(Number(ms), months)
    if (!(at >= (expiresOf.get(p) ?? Number.POSITIVE_INFINITY))) expiresOf.set(p, at)
  }
  for (const [m, row, ingested] of r?.rows ?? []) {
    push(rowsOf, owners.get(m) ?? "", row)
    expiring(m, "event_rows", ingested)
  }
  for (const [m, ms] of (r?.["sentiment_kept"] ?? []) as Array<[string, string]>) expiring(m, "sentiment", ms)
  for (const [m, ms] of (r?.["observed_kept"] ?? []) as Array<[string, string]>) expiring(m, "identity_observations", ms)
  const mergesOf = per<MergeRow>()
  for (const [p, row] of r?.merges_from ?? []) push(mergesOf, p, row)
  // A merge from the profile to itself shows once (from its own side), as the read's two halves have it.
  for (const [p, row] of r?.merges_to ?? []) push(mergesOf, p, row)
  const sentimentOf = new Map<string, [string, number, string]>()
  for (const [m, label, score, at] of r?.sentiment ?? []) {
    const p = owners.get(m) ?? ""
    const kept = sentimentOf.get(p)
    if (kept === undefined || at > kept[2]) sentimentOf.set(p, [label, score, at])
  }
  const identifiersOf = per<unknown>()
  for (const [p, row] of r?.identifiers ?? []) push(identifiersOf, p, row)
  const states = computed?.byProfile(r?.["computed_by_profile"])
  const landedCounts = new Map(((r?.["landed_counts"] ?? []) as Array<[string, string]>).map(([p, n]) => [p, Number(n)]))
  // Whole: known from the scope, else every landing profile's messages are all here (landedProfiles' count).
  const whole = (s: DocumentParts["scope"]) => s.landed !== undefined && Object.keys(s.landed).every((l) => landingOwner.get(l) === s.profileId) &&
    (s.whole ?? Object.entries(s.landed).every(([l, n]) => landedCounts.get(l) === n))
  const later = Number(r?.["restrictions_later"] ?? 0)
  for (const scope of scopes) {
    const p = scope.profileId
    const summary = summaryOfRows(rowsOf.get(p) ?? [], DOCUMENT_EVENTS)
    const sentiment = sentimentOf.get(p)
    out.set(p, {
      restrictionFrom: later > 0 ? later : undefined,
      expiresAt: expiresOf.get(p),
      scope,
      summary: {
        ...summary,
        // Oldest first, as the read's ORDER BY at (text of a fixed-width time).
        merges: (mergesOf.get(p) ?? []).sort((a, b) => (a[5] < b[5] ? -1 : a[5] > b[5] ? 1 : 0)),
        sentiment: sentiment === undefined ? [] : [sentiment],
      },
      identifiers: identifiersOf.get(p) ?? [],
      computedStates: states === undefined || !whole(scope) ? undefined : states.get(p) ?? [],
      consent: consent.decode(r ?? {}, scope),
    })
  }
  return out
})
