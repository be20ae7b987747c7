// The consent ledger's one owner (migration 020): rows go in per batch; readers see each row with its current
// profile (the consent_current view), so a merge or split carries consent along with the messages that stated it.
import { Effect } from "effect"
import { currentProfileSql, mayHoldNowSql } from "./current-profile.ts"
import { profileRestrictedSql, restrictedSubjectKeysSql } from "./dsr.ts"
import { PROFILE_SCOPE_SQL } from "./profiles.ts"
import { chDateTime } from "./sink.ts"
import { type Row, Warehouse } from "./warehouse.ts"

export interface LedgerRow {
  readonly tenant: string
  readonly messageId: string
  /** The current profile when read; the profile it was recorded under when written. */
  readonly profileId: string
  readonly purpose: string
  readonly state: "granted" | "denied"
  readonly basis: string
  readonly source: string
  readonly proof: string
  /**
   * The device whose stored preferences the message carried, as the deployment's keyed hash of its anonymous id
   * (rows written before the keyed hash hold 16 hex digits of a plain SHA-256, read as they are: consent/stage.ts);
   * "" for an act (an update event, an unsubscribe).
   */
  readonly device: string
  /** When it takes effect: the carrying message's event time (ms since the epoch). */
  readonly atMs: number
  readonly recordedAtMs: number
  /** When read: the profile the row was recorded under (differs from profileId after a merge or split). */
  readonly recordedProfileId?: string | undefined
}

const iso = (ms: number) => chDateTime(new Date(ms).toISOString())

export const insertLedgerRows = Effect.fn("insertLedgerRows")(function* (rows: ReadonlyArray<LedgerRow>) {
  if (rows.length === 0) return
  const warehouse = yield* Warehouse
  yield* warehouse.insert("consent_ledger", rows.map((r): Row => ({
    tenant: r.tenant, message_id: r.messageId, profile_id: r.profileId, purpose: r.purpose, state: r.state, basis: r.basis,
    source: r.source, proof: r.proof, device: r.device, timestamp: iso(r.atMs), recorded_at: iso(r.recordedAtMs),
  })))
})

/** A statement's ledger rows (read whole by message id) and the latest move of each one's message, as two array values. */
interface RowsAndMoves {
  /** (message id, profile recorded under, purpose, state, basis, source, proof, device, event ms, recorded ms) */
  readonly rows: Array<[string, string, string, string, string, string, string, string, string, string]>
  /** (message id, its profile now) for messages moved since they landed */
  readonly moves: Array<[string, string]>
}

// Both read by the order keys: consent_ledger's and event_profiles' start (tenant, message_id); `ownable` selects the
// message ids. Every version of each replacing key is read (they share the message id): see currentRows.
const ledgerRowsSql = (ownable: string) =>
  "(SELECT groupArray((message_id, profile_id, purpose, state, basis, source, proof, device, " +
  "toString(toUnixTimestamp64Milli(timestamp)), toString(toUnixTimestamp64Milli(recorded_at)))) " +
  `FROM consent_ledger WHERE tenant = {tenant:String} AND ${ownable})`
const ledgerMovesSql = (ownable: string) =>
  "(SELECT groupArray((message_id, now)) FROM (SELECT message_id, argMax(profile_id, version) AS now FROM event_profiles " +
  `WHERE tenant = {tenant:String} AND ${ownable} GROUP BY message_id))`
const rowsAndMovesSql = (ownable: string) => `${ledgerRowsSql(ownable)} AS rows, ${ledgerMovesSql(ownable)} AS moves`

/**
 * consent_current's reading of rows read by message id whole, oldest first (timestamp, recorded_at, message_id,
 * purpose), keeping those whose profile now (the latest move of the message, else the profile recorded under) is one
 * of `profiles`. No FINAL: the replacing key (tenant, message_id, purpose, source) starts with the message, so every
 * version of every key read is here, and the latest recorded_at per key is kept, which is what FINAL would keep
 * (ReplacingMergeTree(recorded_at)) by merging the parts' ranges in the engine.
 */
const currentRows = (
  tenant: string, found: Pick<RowsAndMoves, "rows"> & Partial<Pick<RowsAndMoves, "moves">> | undefined, profiles: ReadonlySet<string>,
  nowOf?: (messageId: string, recorded: string) => string,
): Array<LedgerRow> => {
  const moves = new Map(found?.moves ?? [])
  const profileNow = nowOf ?? ((messageId: string, recorded: string) => moves.get(messageId) ?? recorded)
  const latest = new Map<string, LedgerRow>()
  for (const [messageId, recorded, purpose, state, basis, source, proof, device, ms, recordedMs] of found?.rows ?? []) {
    const row: LedgerRow = {
      tenant, messageId, profileId: profileNow(messageId, recorded), purpose, state: state as LedgerRow["state"], basis, source,
      proof, device, atMs: Number(ms), recordedAtMs: Number(recordedMs), recordedProfileId: recorded,
    }
    const key = JSON.stringify([messageId, purpose, source])
    const kept = latest.get(key)
    if (kept === undefined || row.recordedAtMs >= kept.recordedAtMs) latest.set(key, row)
  }
  const text = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
  return [...latest.values()].filter((row) => profiles.has(row.profileId))
    .sort((a, b) => a.atMs - b.atMs || a.recordedAtMs - b.recordedAtMs || text(a.messageId, b.messageId) || text(a.purpose, b.purpose))
}

// The rows these profiles can own now: recorded under one of them, or stated by a message moved to one of them (at
// any time: a later move elsewhere is what currentRows checks). Each through its skip index on profile_id (023).
const ownableBy = (profiles: string) =>
  `message_id IN (SELECT message_id FROM consent_ledger WHERE tenant = {tenant:String} AND profile_id IN ${profiles} ` +
  `UNION ALL SELECT message_id FROM event_profiles WHERE tenant = {tenant:String} AND profile_id IN ${profiles})`
const OWNABLE_BY_PROFILES = ownableBy("{profiles:Array(String)}")

/** Every ledger row of these (current) profiles, oldest first. */
export const ledgerOfProfiles = Effect.fn("ledgerOfProfiles")(function* (tenant: string, profiles: ReadonlyArray<string>) {
  if (profiles.length === 0) return []
  const warehouse = yield* Warehouse
  const [found] = yield* warehouse.query<RowsAndMoves>(`SELECT ${rowsAndMovesSql(OWNABLE_BY_PROFILES)}`, { params: { tenant, profiles } })
  return currentRows(tenant, found, new Set(profiles))
})

// consent_current's reading of the rows these profiles can own (the latest version per replacing key, with its profile
// now: the latest move of its message, else the profile recorded under), as `owned`; then of those taking effect
// before {from}, recorded under the profile they belong to now, only the one in effect per (profile, purpose, device)
// (ledger.ts laterThan: the later event time, then a refusal, then the later recording).
// The profiles are named once (asked_profiles): named in each of its five places, a batch's few hundred profiles made
// the statement too long to be written in whole (inline-params.ts), and the consent stage's read took chDB's turn.
const LEDGER_FROM_SQL =
  "WITH {profiles:Array(String)} AS asked_profiles, " +
  "cur AS (SELECT message_id, purpose, source, argMax(tuple(profile_id, state, basis, proof, device, timestamp), recorded_at) AS v, " +
  `max(recorded_at) AS rec FROM consent_ledger WHERE tenant = {tenant:String} AND ${ownableBy("asked_profiles")} GROUP BY message_id, purpose, source), ` +
  "moves AS (SELECT message_id, argMax(profile_id, version) AS now FROM event_profiles " +
  `WHERE tenant = {tenant:String} AND ${ownableBy("asked_profiles")} GROUP BY message_id), ` +
  "owned AS (SELECT c.message_id AS message_id, tupleElement(c.v, 1) AS recorded, if(m.now != '', m.now, tupleElement(c.v, 1)) AS profile, " +
  "c.purpose AS purpose, tupleElement(c.v, 2) AS state, tupleElement(c.v, 3) AS basis, c.source AS source, tupleElement(c.v, 4) AS proof, " +
  "tupleElement(c.v, 5) AS device, tupleElement(c.v, 6) AS at, c.rec AS rec FROM cur AS c LEFT JOIN moves AS m ON m.message_id = c.message_id " +
  "WHERE profile IN asked_profiles) " +
  "SELECT groupArray(tuple(message_id, recorded, profile, purpose, state, basis, source, proof, device, " +
  "toString(toUnixTimestamp64Milli(at)), toString(toUnixTimestamp64Milli(rec)))) AS rows FROM " +
  "(SELECT *, at >= {from:DateTime64(3, 'UTC')} OR profile != recorded AS whole, " +
  "row_number() OVER (PARTITION BY profile, purpose, device, whole ORDER BY at DESC, state = 'denied' DESC, rec DESC) AS n FROM owned) " +
  "WHERE whole OR n = 1"

/**
 * The ledger rows of these (current) profiles that can decide anything at or after `fromMs`, oldest first: every row
 * taking effect from then on, every row recorded under another profile (merged in), and of the others, per profile,
 * purpose and device, the row in effect just before `fromMs`. The state of a purpose at any time from `fromMs` on (of
 * the profile, or of one of its devices: consent/stage.ts) is the same as over ledgerOfProfiles' rows, but what is
 * read back follows the batch (its profiles, and what changed since its earliest message), not the profiles'
 * histories. The consent stage asks this once per batch and tenant.
 */
export const ledgerOfProfilesFrom = Effect.fn("ledgerOfProfilesFrom")(function* (tenant: string, profiles: ReadonlyArray<string>, fromMs: number) {
  if (profiles.length === 0) return []
  const warehouse = yield* Warehouse
  const [found] = yield* warehouse.query<{ rows: Array<[string, string, string, string, string, string, string, string, string, string, string]> }>(
    LEDGER_FROM_SQL, { params: { tenant, profiles, from: iso(fromMs) } })
  const text = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
  return (found?.rows ?? []).map(([messageId, recorded, profileId, purpose, state, basis, source, proof, device, ms, recordedMs]): LedgerRow => ({
    tenant, messageId, profileId, purpose, state: state as LedgerRow["state"], basis, source, proof, device, atMs: Number(ms),
    recordedAtMs: Number(recordedMs), recordedProfileId: recorded,
  })).sort((a, b) => a.atMs - b.atMs || a.recordedAtMs - b.recordedAtMs || text(a.messageId, b.messageId) || text(a.purpose, b.purpose))
})

/** What a profile read needs of consent: the profile's ledger rows, and whether it is restricted by id or may be by identifier. */
export interface ProfileConsentRows {
  readonly rows: ReadonlyArray<LedgerRow>
  /** Restricted by profile id (profile_restrictions) at the time asked. */
  readonly restrictedById: boolean
  /** The tenant's restricted identifiers (keyed hashes) at the time asked: the caller finds whether the profile holds one. */
  readonly subjectKeys: ReadonlyArray<{ readonly key: string; readonly kind: string }>
}

// The ledger rows a profile can own now: those stated by the messages it holds now ({ids}, its read scope) and those
// recorded under its id (restrictions, objections and other requests, messages dropped before landing). Every row
// consent_current gives this profile is among them: a moved one's message is the profile's now (in {ids}); an unmoved
// one was recorded under it.
const OWNABLE_BY_MESSAGES = "(message_id IN {ids:Array(String)} OR message_id IN " +
  "(SELECT message_id FROM consent_ledger WHERE tenant = {tenant:String} AND profile_id = {profile:String}))"

/**
 * The SQL of a profile's ledger and restriction markers as columns of one SELECT (`consent_rows`, `consent_moves`
 * without `gone`, `consent_restricted`, `consent_keys`) and its parameters ({tenant}, {profile}, {ids}, {at}): a
 * profile read puts them into its own statement. `gone` (the read scope's messages that were this profile's and are
 * another's now) stands in for the moves of the messages read: the scope holds every message that landed under the
 * profile or was ever moved to it, kept ones in `ids`, the others in `gone`. A row recorded under the profile whose
 * message is in neither never landed here and was never moved here: its profile is the one it was recorded under,
 * as consent_current has it (a message is recorded under the profile it then lands under, so no move can have
 * taken it elsewhere).
 */
export const consentOfMessagesColumns = (tenant: string, profileId: string, messageIds: ReadonlyArray<string>, atMs: number, gone?: ReadonlyArray<string>) => {
  const columns: Record<string, string> = { consent_rows: ledgerRowsSql(OWNABLE_BY_MESSAGES) }
  if (gone === undefined) columns["consent_moves"] = ledgerMovesSql(OWNABLE_BY_MESSAGES)
  columns["consent_restricted"] = profileRestrictedSql
  columns["consent_keys"] = restrictedSubjectKeysSql
  const params = { tenant, profile: profileId, ids: messageIds, at: iso(atMs) }
  const decode = (values: Record<string, unknown>): ProfileConsentRows => {
    const found = { rows: (values["consent_rows"] ?? []) as RowsAndMoves["rows"], moves: (values["consent_moves"] ?? []) as RowsAndMoves["moves"] }
    const mine = new Set(messageIds)
    const elsewhere = new Set(gone ?? [])
    const nowOf = gone === undefined ? undefined
      : (messageId: string, recorded: string) => (mine.has(messageId) ? profileId : elsewhere.has(messageId) ? "" : recorded)
    return {
      rows: currentRows(tenant, found, new Set([profileId]), nowOf),
      restrictedById: Number(values["consent_restricted"] ?? 0) === 1,
      subjectKeys: ((values["consent_keys"] ?? []) as Array<[string, string]>).map(([key, kind]) => ({ key, kind })),
    }
  }
  return { columns, params, decode }
}

/**
 * consentOfMessagesColumns for many profiles of a tenant at once (profile documents, warehouse/profile-documents.ts):
 * one read of the ledger for all their messages and rows recorded under them, one of their restriction markers, and
 * per profile what decode gives for it alone. Each profile's decode keeps the rows consentOfMessagesColumns would
 * (its `ids` and `gone` decide which are its own now; another profile's rows are never its own). Parameters
 * {tenant}, {consent_profiles}, {consent_ids}, {at}.
 */
export const consentOfScopesColumns = (tenant: string, scopes: ReadonlyArray<{ readonly profileId: string; readonly ids: ReadonlyArray<string>; readonly gone: ReadonlyArray<string> }>, atMs: number) => {
  const ownable = "(message_id IN {consent_ids:Array(String)} OR message_id IN " +
    "(SELECT message_id FROM consent_ledger WHERE tenant = {tenant:String} AND profile_id IN {consent_profiles:Array(String)}))"
  const columns: Record<string, string> = {
    consent_rows: ledgerRowsSql(ownable),
    consent_restricted: "(SELECT groupArray(profile_id) FROM (SELECT profile_id FROM profile_restrictions WHERE tenant = {tenant:String} " +
      "AND profile_id IN {consent_profiles:Array(String)} AND at <= {at:DateTime64(3, 'UTC')} GROUP BY profile_id HAVING argMax(restricted, at) = 1))",
    consent_keys: restrictedSubjectKeysSql,
  }
  const params = { tenant, consent_profiles: scopes.map((s) => s.profileId), consent_ids: scopes.flatMap((s) => s.ids), at: iso(atMs) }
  // The rows by message, and the messages with a row recorded under each profile, indexed once for all profiles.
  let indexed: { readonly values: unknown; readonly byMessage: Map<string, RowsAndMoves["rows"]>; readonly recordedUnder: Map<string, Set<string>> } | undefined
  const index = (values: Record<string, unknown>) => {
    if (indexed?.values === values) return indexed
    const byMessage = new Map<string, RowsAndMoves["rows"]>()
    const recordedUnder = new Map<string, Set<string>>()
    for (const row of (values["consent_rows"] ?? []) as RowsAndMoves["rows"]) {
      byMessage.set(row[0], [...(byMessage.get(row[0]) ?? []), row])
      recordedUnder.set(row[1], (recordedUnder.get(row[1]) ?? new Set()).add(row[0]))
    }
    return indexed = { values, byMessage, recordedUnder }
  }
  const decode = (values: Record<string, unknown>, scope: (typeof scopes)[number]): ProfileConsentRows => {
    const { byMessage, recordedUnder } = index(values)
    const mine = new Set(scope.ids)
    const elsewhere = new Set(scope.gone)
    const nowOf = (messageId: string, recorded: string) => (mine.has(messageId) ? scope.profileId : elsewhere.has(messageId) ? "" : recorded)
    // What consentOfMessagesColumns reads for this profile: every row of its messages and of messages with a row recorded under it.
    const messages = new Set([...scope.ids, ...(recordedUnder.get(scope.profileId) ?? [])])
    const rows = [...messages].flatMap((m) => byMessage.get(m) ?? [])
    return {
      rows: currentRows(tenant, { rows }, new Set([scope.profileId]), nowOf),
      restrictedById: ((values["consent_restricted"] ?? []) as Array<string>).includes(scope.profileId),
      subjectKeys: ((values["consent_keys"] ?? []) as Array<[string, string]>).map(([key, kind]) => ({ key, kind })),
    }
  }
  return { columns, params, decode }
}

/**
 * A profile's ledger (as ledgerOfProfiles reads it, oldest first) and its restriction markers at `atMs`, given the
 * messages it holds now (and, from a read scope, those it held and lost: consentOfMessagesColumns), in one statement.
 */
export const ledgerOfMessages = Effect.fn("ledgerOfMessages")(function* (
  tenant: string, profileId: string, messageIds: ReadonlyArray<string>, atMs: number, gone?: ReadonlyArray<string>,
) {
  const warehouse = yield* Warehouse
  const { columns, params, decode } = consentOfMessagesColumns(tenant, profileId, messageIds, atMs, gone)
  const [found] = yield* warehouse.query<Record<string, unknown>>(
    `SELECT ${Object.entries(columns).map(([name, sql]) => `${sql} AS ${name}`).join(", ")}`, { params })
  return decode(found ?? {}) satisfies ProfileConsentRows
})

/**
 * The latest state per (current profile, purpose): a later event time wins; at the same time a refusal wins. With
 * `atMs`, only what had taken effect by then.
 */
const LATEST = (at: boolean) =>
  "SELECT profile_id, argMax(state, tuple(timestamp, state = 'denied', recorded_at)) AS state FROM consent_current " +
  "WHERE tenant = {consent_tenant:String} AND purpose = {consent_purpose:String}" +
  (at ? " AND timestamp <= {consent_at:DateTime64(3, 'UTC')}" : "") + " GROUP BY profile_id"

/**
 * SQL selecting `profile_id` of every profile whose latest state for a purpose is a grant, with its parameters (names
 * prefixed `consent_`, so it can be embedded in a bigger query). An opt-in purpose may use only these; a purpose
 * granted unless refused is filtered by its refusals instead (warehouse/consent-filter.ts).
 */
export const grantingProfilesQuery = (tenant: string, purpose: string, atMs?: number) => {
  const params: Record<string, unknown> = { consent_tenant: tenant, consent_purpose: purpose }
  if (atMs !== undefined) params["consent_at"] = iso(atMs)
  return { sql: `SELECT profile_id FROM (${LATEST(atMs !== undefined)}) WHERE state = 'granted'`, params }
}

/** SQL selecting `profile_id` of every profile whose latest state for a purpose is a refusal (an objection). */
export const refusingProfilesQuery = (tenant: string, purpose: string, atMs?: number) => {
  const params: Record<string, unknown> = { consent_tenant: tenant, consent_purpose: purpose }
  if (atMs !== undefined) params["consent_at"] = iso(atMs)
  return { sql: `SELECT profile_id FROM (${LATEST(atMs !== undefined)}) WHERE state = 'denied'`, params }
}

export const profileIdsOf = Effect.fn("profileIdsOf")(function* (query: { sql: string; params: Record<string, unknown> }) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ profile_id: string }>(`${query.sql} ORDER BY profile_id`, { params: query.params })
  return rows.map((r) => r.profile_id)
})

/**
 * Messages of these (current) profiles in these channels (undefined: any) from `fromMs` on that are not yet stripped
 * (`extra` has no `mark` key).
 */
export const storedEventsOfProfiles = Effect.fn("storedEventsOfProfiles")(function* (
  tenant: string, profiles: ReadonlyArray<string>, channels: ReadonlyArray<string> | undefined, fromMs: number, mark: string,
) {
  if (profiles.length === 0 || channels?.length === 0) return []
  const warehouse = yield* Warehouse
  // Candidates by the order keys (landed under one of the profiles, or moved to one at some time), each with its
  // current profile (warehouse/current-profile.ts), kept when that is one of the profiles.
  const current = currentProfileSql(tenant, "e")
  const rows = yield* warehouse.query<{ message_id: string; profile_id: string; channel: string; type: string; ms: string }>(
    `SELECT e.message_id AS message_id, ${current.profileId} AS profile_id, e.channel AS channel, e.type AS type, ` +
      "toUnixTimestamp64Milli(e.timestamp) AS ms FROM (SELECT message_id, profile_id, channel, type, timestamp FROM event_rows " +
      "WHERE tenant = {tenant:String} AND timestamp >= {from:DateTime64(3, 'UTC')} " +
      `${channels === undefined ? "" : "AND channel IN {channels:Array(String)} "}` +
      `AND NOT JSONHas(extra, {mark:String}) AND ${mayHoldNowSql("profiles")}) AS e ${current.join} ` +
      `WHERE ${current.profileId} IN {profiles:Array(String)}`,
    { params: { ...current.params, tenant, profiles, channels: channels ?? [], from: iso(fromMs), mark } })
  return rows
    .filter((r) => profiles.includes(r.profile_id))
    .map((r) => ({ messageId: r.message_id, profileId: r.profile_id, channel: r.channel, type: r.type, atMs: Number(r.ms) }))
})

/**
 * Stored messages of `tenant` by id, not yet marked `mark` (stripped by consent), with their channel, type and time:
 * the messages a merge has just moved into a profile, to be decided by its ledger as arriving ones are.
 */
export const storedEventsByIds = Effect.fn("storedEventsByIds")(function* (tenant: string, ids: ReadonlyArray<string>, mark: string) {
  if (ids.length === 0) return []
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ message_id: string; channel: string; type: string; ms: string }>(
    "SELECT message_id, any(channel) AS channel, any(type) AS type, toUnixTimestamp64Milli(any(timestamp)) AS ms FROM event_rows " +
      "WHERE tenant = {tenant:String} AND message_id IN {ids:Array(String)} AND NOT JSONHas(extra, {mark:String}) GROUP BY message_id",
    { params: { tenant, ids, mark } })
  return rows.map((r) => ({ messageId: r.message_id, channel: r.channel, type: r.type, atMs: Number(r.ms) }))
})

/** A page of a profile's history: at most `limit` entries after `after` (its key, newest first: see ledgerPageOfProfile). */
export interface LedgerPageRequest {
  readonly limit: number
  /** [latestMs - event ms, latestMs - recorded ms, message id, purpose, state] of the previous page's last entry. */
  readonly after?: readonly [number, number, string, string, string] | undefined
  /** The time a page key counts back from (ingest/consent-route.ts's LATEST_MS). */
  readonly latestMs: number
}

/** A page of a profile's ledger, the ledger's length, the row in effect per purpose, and the restriction markers. */
export interface LedgerPage extends Omit<ProfileConsentRows, "rows"> {
  /** At most limit + 1 rows, newest first: one more than asked tells there is a next page. */
  readonly rows: ReadonlyArray<LedgerRow>
  readonly total: number
  /** Per purpose, the row in effect now (consent/ledger.ts laterThan): a later event time, then a refusal, then the later recording. */
  readonly latest: ReadonlyArray<LedgerRow>
}

type LedgerTuple = [string, string, string, string, string, string, string, string]

/**
 * ledgerOfMessages paged in the engine, of the messages profile `profileId` holds now, selected in the same statement
 * (its read scope, warehouse/profiles.ts PROFILE_SCOPE_SQL: kept messages as ledgerOfMessages' `ids`, the others as
 * `gone`) rather than passed in (a profile can hold hundreds of thousands). The same rows (consent_current's reading:
 * the latest version per replacing key, kept when its profile now is `profileId`), of which only a page is read, newest
 * first by (event time, recorded at, message id, purpose, state) after the key `page.after`, with the count of them
 * all, per purpose the row in effect, and how many messages the profile holds (0: no such profile now).
 */
export const ledgerPageOfProfile = Effect.fn("ledgerPageOfProfile")(function* (
  tenant: string, profileId: string, atMs: number, page: LedgerPageRequest,
) {
  const warehouse = yield* Warehouse
  const ids = "(SELECT message_id FROM scope WHERE kept = 1)"
  // The profile a kept row belongs to now: as consentOfMessagesColumns' decode with `gone`.
  const now = `multiIf(message_id IN ${ids}, {profile:String}, message_id IN (SELECT message_id FROM scope WHERE kept != 1), '', v.1)`
  const ownable = `(message_id IN ${ids} OR message_id IN ` +
    "(SELECT message_id FROM consent_ledger WHERE tenant = {tenant:String} AND profile_id = {profile:String}))"
  const ms = (column: string) => `toUnixTimestamp64Milli(${column})`
  const tuple = `tuple(message_id, purpose, state, basis, source, proof, toString(${ms("timestamp")}), toString(${ms("recorded_at")}))`
  const key = `tuple({latest:Int64} - ${ms("timestamp")}, {latest:Int64} - ${ms("recorded_at")}, message_id, purpose, state)`
  const after = page.after === undefined ? "1"
    : `${key} > tuple({a0:Int64}, {a1:Int64}, {a2:String}, {a3:String}, {a4:String})`
  const sql =
    `WITH scope AS (${PROFILE_SCOPE_SQL}), ` +
    "cur AS (SELECT message_id, purpose, source, v.2 AS state, v.3 AS basis, v.4 AS proof, v.5 AS timestamp, rec AS recorded_at FROM " +
    "(SELECT message_id, purpose, source, argMax(tuple(profile_id, state, basis, proof, timestamp), recorded_at) AS v, max(recorded_at) AS rec " +
    `FROM consent_ledger WHERE tenant = {tenant:String} AND ${ownable} GROUP BY message_id, purpose, source) ` +
    `WHERE ${now} = {profile:String}) ` +
    "SELECT (SELECT count() FROM scope WHERE kept = 1) AS messages, (SELECT count() FROM cur) AS total, " +
    // The row in effect: the later event time, then a refusal, then the later recording (the first message id on a tie, as stateFromRows).
    `(SELECT groupArray(w) FROM (SELECT argMin(${tuple}, tuple(-${ms("timestamp")}, state != 'denied', -${ms("recorded_at")}, message_id, source)) AS w ` +
    "FROM cur GROUP BY purpose)) AS latest, " +
    `(SELECT groupArray(${tuple}) FROM (SELECT * FROM cur WHERE ${after} ORDER BY ${key} LIMIT {n:UInt32})) AS page, ` +
    `${profileRestrictedSql} AS consent_restricted, ${restrictedSubjectKeysSql} AS consent_keys`
  const params: Record<string, unknown> = { tenant, profile: profileId, at: iso(atMs), latest: page.latestMs, n: page.limit + 1 }
  page.after?.forEach((value, i) => { params[`a${i}`] = value })
  const [found] = yield* warehouse.query<{
    messages: string; total: string; latest: Array<LedgerTuple>; page: Array<LedgerTuple>; consent_restricted: unknown; consent_keys: Array<[string, string]>
  }>(sql, { params })
  const rowOf = ([messageId, purpose, state, basis, source, proof, at, recorded]: LedgerTuple): LedgerRow => ({
    tenant, messageId, profileId, purpose, state: state as LedgerRow["state"], basis, source, proof, device: "",
    atMs: Number(at), recordedAtMs: Number(recorded),
  })
  // groupArray keeps no order the engine promises: the page is put in its order again here.
  const text = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
  const rows = (found?.page ?? []).map(rowOf).sort((a, b) =>
    b.atMs - a.atMs || b.recordedAtMs - a.recordedAtMs || text(a.messageId, b.messageId) || text(a.purpose, b.purpose) || text(a.state, b.state))
  return {
    rows, total: Number(found?.total ?? 0), latest: (found?.latest ?? []).map(rowOf), messages: Number(found?.messages ?? 0),
    restrictedById: Number(found?.consent_restricted ?? 0) === 1,
    subjectKeys: (found?.consent_keys ?? []).map(([key, kind]) => ({ key, kind })),
  } satisfies LedgerPage & { readonly messages: number }
})
