// The profile_documents table (migration 083): one stored document per profile, read by its key (with the
// identifier's owner looked up in the same statement) and written in batches. What a document holds and when it may
// be used is ingest/profile-documents.ts's.
import { Effect } from "effect"
import { stateAggregatesByProfileColumns, tenantDefinitions } from "./computed-traits.ts"
import { consentOfScopesColumns, type ProfileConsentRows } from "./consent.ts"
import { scopeCondition } from "./identity.ts"
import {
  eventRowsCondition, firstPageRows, identifierGroups, mergedParams, OWNER_SQL, profileReadScopesOf, type ProfileSummary, type ReadScope, type ScopeOwner,
  SUMMARY_IN_PROCESS_MAX, summaryOfRows, type SummaryRow,
} from "./profiles.ts"
import { chDateTime } from "./sink.ts"
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

/** What ends a profile's answer with no write to hear, read with it (endColumns). */
export interface AnswerEnds {
  /** A time (ms) from which a restriction recorded in advance takes effect, if any: the answer holds until then. */
  readonly restrictionFrom: number | undefined
  /**
   * When the first of its rows a retention TTL removes expires (ms), if any: the engine's merges remove it later,
   * unannounced, so the answer holds until then (CDP_RETENTION, warehouse/retention.ts).
   */
  readonly expiresAt: number | undefined
}

/** The next UTC midnight after `ms`. */
export const nextUtcMidnight = (ms: number) => (Math.floor(ms / 86_400_000) + 1) * 86_400_000

/**
 * When a profile's answer as of `at` changes by itself, with no write to hear (null: never): at the UTC midnight
 * after `at` when its tenant has computed traits in day windows (they move then), when a restriction recorded in
 * advance takes effect, when the first of its rows a retention TTL removes expires. The one place a profile document's
 * end (`until`) and a kept answer's (ingest/profile-read.ts) are computed.
 */
export const answerEnd = Effect.fn("answerEnd")(function* (tenant: string, at: number, ends: AnswerEnds) {
  const windowed = (yield* tenantDefinitions(tenant)).some((d) => d.window_days > 0)
  const all = [
    ...(windowed ? [nextUtcMidnight(at)] : []), ...(ends.restrictionFrom === undefined ? [] : [ends.restrictionFrom]),
    ...(ends.expiresAt === undefined ? [] : [ends.expiresAt]),
  ]
  return all.length === 0 ? null : Math.min(...all)
})

const iso = (ms: number) => chDateTime(new Date(ms).toISOString())

/**
 * What answerEnd needs, as columns of the statement reading profiles' messages (readDocumentParts for many, a profile
 * read for one, endColumnsOfScope): `owner` is SQL of a message's profile, `eventRows` and `messages` select the
 * messages in event_rows and in sentiment and identity_observations (their parameters are the caller's). Read: the
 * first restriction (or lift) of the tenant recorded to take effect after `atMs`, the tables' retention TTLs, and per
 * owner the oldest time each TTL counts from; `decode` gives each owner's AnswerEnds.
 */
export const endColumns = (tenant: string, atMs: number, where: { readonly owner: string; readonly eventRows: string; readonly messages: string }) => {
  // One column: per owner, the oldest time each TTL counts from ('oldest'); for the tenant, each restriction (or lift)
  // recorded to take effect later, which changes the consent read then ('later'); the tables' TTLs ('ttl',
  // warehouse/retention.ts RETENTION_TABLES).
  const oldest = (table: string, column: string, condition: string) =>
    `SELECT 'oldest' AS k, ${where.owner} AS o, '${table}' AS t, toString(toUnixTimestamp64Milli(min(${column}))) AS v FROM ${table} WHERE ${condition} GROUP BY o`
  const later = (table: string) => `SELECT 'later' AS k, '' AS o, '' AS t, toString(toUnixTimestamp64Milli(at)) AS v FROM ${table} ` +
    "WHERE tenant = {tenant:String} AND at > {ends_at:DateTime64(3, 'UTC')}"
  const columns = {
    ends: `(SELECT groupArray((k, o, t, v)) FROM (${oldest("event_rows", "ingested_at", where.eventRows)} ` +
      `UNION ALL ${oldest("sentiment", "scored_at", where.messages)} UNION ALL ${oldest("identity_observations", "observed_at", where.messages)} ` +
      `UNION ALL ${later("profile_restrictions")} UNION ALL ${later("subject_restrictions")} ` +
      "UNION ALL SELECT 'ttl' AS k, '' AS o, name AS t, engine_full AS v FROM system.tables WHERE database = currentDatabase() " +
      "AND name IN ('event_rows', 'sentiment', 'identity_observations')))",
  }
  const decode = (values: Record<string, unknown>) => {
    const rows = (values["ends"] ?? []) as Array<[string, string, string, string]>
    const ttl = ttlMonths(rows.filter(([k]) => k === "ttl").map(([, , t, v]) => [t, v]))
    const later = Math.min(...rows.filter(([k]) => k === "later").map(([, , , v]) => Number(v)))
    const expires = new Map<string, number>()
    for (const [k, o, table, ms] of rows) {
      const months = ttl.get(table)
      if (k !== "oldest" || months === undefined) continue
      const at = months === "unknown" ? Date.now() + 10 * 60_000 : addMonths(Number(ms), months)
      if (!(at >= (expires.get(o) ?? Number.POSITIVE_INFINITY))) expires.set(o, at)
    }
    return (owner: string): AnswerEnds => ({ restrictionFrom: Number.isFinite(later) ? later : undefined, expiresAt: expires.get(owner) })
  }
  return { columns, params: { tenant, ends_at: iso(atMs) }, decode }
}

/**
 * endColumns of one profile's read scope, as columns of its read's statement (identity/profile.ts ReadColumns);
 * `end` gives answerEnd of the values read.
 */
export const endColumnsOfScope = (scope: ReadScope, atMs: number) => {
  const eventRows = eventRowsCondition(scope)
  const messages = scopeCondition(scope)
  const { columns, params, decode } = endColumns(scope.tenant, atMs, { owner: "''", eventRows: eventRows.mine, messages: messages.mine })
  return {
    columns, params: mergedParams(params, eventRows.params, messages.params),
    end: (values: Record<string, unknown>) => answerEnd(scope.tenant, atMs, decode(values)("")),
  }
}

/** One profile's parts of a document, read with many others' (readDocumentParts). */
export interface DocumentParts extends AnswerEnds {
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
 * Message ids one statement of readDocumentParts reads at most. Its time grows with them (measured on the embedded
 * engine: 3,000 ids 0.2 s, 10,000 0.5 s, 30,000 1.3 s) until it falls off a cliff (60,000 ids took 67 s), and while it
 * runs every other statement with bound parameters waits (chDB takes them one at a time for the whole process):
 * 500 profiles of a few hundred messages each held a bulk load's pipeline past the collector's 30 s. 500 profiles of
 * 20 messages are one statement.
 */
export const DOCUMENT_STATEMENT_MESSAGES = 10_000

/**
 * Scopes in runs whose messages add up to at most `max` (a scope alone may hold more), in order.
 */
export const runsOfMessages = <S extends { readonly ids: ReadonlyArray<string> }>(scopes: ReadonlyArray<S>, max: number): Array<Array<S>> => {
  const runs: Array<Array<S>> = []
  let run: Array<S> = []
  let size = 0
  for (const s of scopes) {
    if (run.length > 0 && size + s.ids.length > max) {
      runs.push(run)
      run = []
      size = 0
    }
    run.push(s)
    size += s.ids.length
  }
  if (run.length > 0) runs.push(run)
  return runs
}

/**
 * The parts of many profiles' documents: their read scopes in one statement (profileReadScopesOf, as a read finds
 * them; one more when messages were moved in), then everything else in one statement per DOCUMENT_STATEMENT_MESSAGES
 * of their messages (the engine's fixed cost is paid per statement and sub-read, not per profile). Profiles without
 * messages, with more than SUMMARY_IN_PROCESS_MAX, or with more than MAX_MOVED_IN moved in, have no parts (their
 * reads go as before).
 */
export const readDocumentParts = Effect.fn("readDocumentParts")(function* (
  tenant: string, profiles: ReadonlyArray<string>, atMs: number, runMessages: number = DOCUMENT_STATEMENT_MESSAGES,
) {
  const out = new Map<string, DocumentParts>()
  if (profiles.length === 0) return out
  const scopes = [...(yield* profileReadScopesOf(tenant, { profileIds: profiles })).values()]
    .filter((s) => s.landed !== undefined && s.ids.length > 0 && s.ids.length <= SUMMARY_IN_PROCESS_MAX)
  if (scopes.length === 0) return out
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
  for (const run of runsOfMessages(scopes, runMessages)) {
    for (const [p, parts] of yield* readPartsOfRun(tenant, run, atMs, landingOwner)) out.set(p, parts)
  }
  return out
})

/**
 * The run's message ids, their owners, landing profiles and profiles, named once in the statement's WITH and read by
 * every part of it (the ids stood in twelve parts, their owners in five). A run of DOCUMENT_STATEMENT_MESSAGES ids is
 * still too long to write in (warehouse/inline-params.ts), so it is bound and takes chDB's process-wide turn, but for
 * less time: named once, a full build of 15,000 profiles' documents took 34 s instead of 43-47 s. Runs short enough to
 * write in (about 20 profiles) made a batch of 500 four to five times slower (measured: 4.0-4.9 s against 0.9-1.3 s).
 */
const DOCUMENT_CONSTANTS = "WITH {doc_ids:Array(String)} AS doc_ids, {doc_owners:Array(String)} AS doc_owners, " +
  "{doc_landing:Array(String)} AS doc_landing, {doc_profiles:Array(String)} AS doc_profiles "

/** readDocumentParts' second statement, for one run of scopes; `landingOwner` is the whole batch's. */
const readPartsOfRun = Effect.fn("readPartsOfRun")(function* (
  tenant: string, scopes: ReadonlyArray<DocumentParts["scope"]>, atMs: number, landingOwner: ReadonlyMap<string, string>,
) {
  const out = new Map<string, DocumentParts>()
  const warehouse = yield* Warehouse
  const owners = new Map<string, string>()
  for (const s of scopes) for (const m of s.ids) owners.set(m, s.profileId)
  const ids = [...owners.keys()]
  const landing = [...new Set(scopes.flatMap((s) => Object.keys(s.landed ?? {})))]
  const definitions = yield* tenantDefinitions(tenant)
  const mine = new Set(scopes.map((s) => s.profileId))
  const runLanding = new Map([...landingOwner].filter(([, p]) => mine.has(p)))
  const computed = definitions.length === 0 || runLanding.size === 0 ? undefined : stateAggregatesByProfileColumns(tenant, runLanding, definitions)
  const consent = consentOfScopesColumns(tenant, scopes, atMs)
  const owner = "transform(message_id, doc_ids, doc_owners, '')"
  const identifiers = firstPageRows(identifierGroups("tenant = {tenant:String} AND message_id IN doc_ids", false, owner), DOCUMENT_IDENTIFIERS, true)
  const ends = endColumns(tenant, atMs, {
    owner, eventRows: "tenant = {tenant:String} AND profile_id IN doc_landing AND message_id IN doc_ids",
    messages: "tenant = {tenant:String} AND message_id IN doc_ids",
  })
  const also = {
    ...consent.columns, ...(computed?.columns ?? {}), ...ends.columns,
    landed_counts: "(SELECT groupArray((profile_id, toString(n))) FROM (SELECT profile_id, uniqExact(message_id) AS n FROM event_rows " +
      "WHERE tenant = {tenant:String} AND profile_id IN doc_landing GROUP BY profile_id))",
  }
  const [r] = yield* warehouse.query<Record<string, unknown> & {
    rows: Array<[string, SummaryRow]>
    merges_from: Array<[string, MergeRow]>
    merges_to: Array<[string, MergeRow]>
    sentiment: Array<[string, string, number, string]>
    identifiers: Array<[string, [string, string, string, string, string, string, string, string, string]]>
  }>(
    DOCUMENT_CONSTANTS + "SELECT (SELECT groupArray((message_id, (toString(channel), toString(toUnixTimestamp64Milli(timestamp)), toString(timestamp), message_id, " +
      "toString(source), toString(type), event, toUInt8(user_id != ''), if(traits = '{}', [], JSONExtractKeysAndValuesRaw(traits))))) FROM event_rows " +
      "WHERE tenant = {tenant:String} AND profile_id IN doc_landing AND message_id IN doc_ids) AS rows, " +
      `(SELECT groupArray((from_profile, ${MERGE_TUPLE})) FROM profile_merges WHERE tenant = {tenant:String} AND from_profile IN doc_profiles) AS merges_from, ` +
      `(SELECT groupArray((to_profile, ${MERGE_TUPLE})) FROM profile_merges WHERE tenant = {tenant:String} AND to_profile IN doc_profiles AND from_profile != to_profile) AS merges_to, ` +
      "(SELECT groupArray((message_id, toString(label), score, toString(timestamp))) FROM sentiment WHERE tenant = {tenant:String} " +
      "AND message_id IN doc_ids AND status = 'scored') AS sentiment, " +
      "(SELECT arraySort(x -> (x.1, x.2.1, x.2.2), groupArray((owner, (kind, value, raw, trust, toString(first), toString(last), toString(n), toString(total), claimed)))) " +
      `FROM (${identifiers})) AS identifiers` +
      Object.entries(also).map(([name, sql]) => `, ${sql} AS ${name}`).join(""),
    {
      params: mergedParams(consent.params, computed?.params ?? {}, ends.params, {
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
  for (const [m, row] of r?.rows ?? []) push(rowsOf, owners.get(m) ?? "", row)
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
  const endsOf = ends.decode(r ?? {})
  for (const scope of scopes) {
    const p = scope.profileId
    const summary = summaryOfRows(rowsOf.get(p) ?? [], DOCUMENT_EVENTS)
    const sentiment = sentimentOf.get(p)
    out.set(p, {
      ...endsOf(p),
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
