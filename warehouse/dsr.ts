// The data-subject request tables' one owner: dsr_requests (migration 030), profile_restrictions (031, restrictions
// recorded by profile id before 032) and subject_restrictions (032). Rows name subjects by keyed hashes only, so they
// survive the erasure they record.
import { Effect } from "effect"
import { Warehouse } from "./warehouse.ts"
import { nextVersion } from "./versions.ts"

export const DSR_TYPES = ["access", "portability", "rectification", "restriction", "objection", "erasure"] as const
export type DsrType = (typeof DSR_TYPES)[number]
export type DsrStatus = "received" | "running" | "completed" | "failed"

/** One thing a request did in one place: `{where: "events", what: "erased", count: 12}`. */
export interface DoneItem {
  readonly where: string
  readonly what: string
  readonly count: number
}

export interface DsrRecord {
  readonly tenant: string
  readonly requestId: string
  readonly type: DsrType
  readonly status: DsrStatus
  /** Kind of the identifier the request named (email, phone, user_id, ...). */
  readonly subjectKind: string
  /** Keyed hash of that identifier. */
  readonly subjectKey: string
  /** Keyed hashes of every identifier of the subject found when the request ran. */
  readonly subjectKeys: ReadonlyArray<string>
  readonly receivedAtMs: number
  readonly dueAtMs: number
  readonly startedAtMs: number | null
  readonly finishedAtMs: number | null
  readonly done: ReadonlyArray<DoneItem>
  readonly details: Readonly<Record<string, unknown>>
  readonly error: string
  /** The signed receipt of a completed request (consent/audit.ts), else null. */
  readonly receipt: unknown
}

const chTime = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "")
const msOf = (text: string) => Date.parse(`${text.replace(" ", "T")}Z`)

/** Writes a request's state (the latest version is its status). */
export const storeRequest = Effect.fn("storeRequest")(function* (r: DsrRecord) {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("dsr_requests", [{
    tenant: r.tenant, request_id: r.requestId, type: r.type, status: r.status, subject_kind: r.subjectKind, subject_key: r.subjectKey,
    subject_keys: r.subjectKeys, received_at: chTime(r.receivedAtMs), due_at: chTime(r.dueAtMs),
    started_at: r.startedAtMs === null ? null : chTime(r.startedAtMs), finished_at: r.finishedAtMs === null ? null : chTime(r.finishedAtMs),
    counts: JSON.stringify(r.done), details: JSON.stringify(r.details), error: r.error,
    receipt: r.receipt === null ? "" : JSON.stringify(r.receipt), version: nextVersion(),
  }])
})

interface RequestRow {
  tenant: string
  request_id: string
  type: DsrType
  status: DsrStatus
  subject_kind: string
  subject_key: string
  subject_keys: Array<string>
  received_at: string
  due_at: string
  started_at: string | null
  finished_at: string | null
  counts: string
  details: string
  error: string
  receipt: string
}

const recordOf = (row: RequestRow): DsrRecord => ({
  tenant: row.tenant, requestId: row.request_id, type: row.type, status: row.status, subjectKind: row.subject_kind,
  subjectKey: row.subject_key, subjectKeys: row.subject_keys, receivedAtMs: msOf(row.received_at), dueAtMs: msOf(row.due_at),
  startedAtMs: row.started_at === null ? null : msOf(row.started_at), finishedAtMs: row.finished_at === null ? null : msOf(row.finished_at),
  done: row.counts === "" ? [] : JSON.parse(row.counts), details: row.details === "" ? {} : JSON.parse(row.details), error: row.error,
  receipt: row.receipt === "" ? null : JSON.parse(row.receipt),
})

const COLUMNS = "tenant, request_id, type, status, subject_kind, subject_key, subject_keys, received_at, due_at, started_at, " +
  "finished_at, counts, details, error, receipt"

/** A request's latest state, or undefined; only `tenant`'s when given (another tenant's is not read). */
export const loadRequest = Effect.fn("loadRequest")(function* (requestId: string, tenant?: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<RequestRow>(
    `SELECT ${COLUMNS} FROM dsr_requests FINAL WHERE ${tenant === undefined ? "" : "tenant = {tenant:String} AND "}request_id = {id:String} LIMIT 1`,
    { params: { id: requestId, ...(tenant === undefined ? {} : { tenant }) } })
  return rows[0] === undefined ? undefined : recordOf(rows[0])
})

/**
 * A request as a list reads it: without subjectKeys, and with the receipt's subject keys (each one identifier of the
 * person, 10,000 for some) cut to the first `listedKeys` in the engine; `receiptKeyCount` is how many it holds.
 */
export interface ListedRequest extends Omit<DsrRecord, "subjectKeys" | "receipt"> {
  /** The signed receipt with subject.keys cut (the signature is still the whole receipt's), or null. */
  readonly receipt: unknown
  readonly receiptKeyCount: number
}

interface ListedRow extends Omit<RequestRow, "subject_keys" | "receipt"> {
  /** The receipt's fields with their JSON, in its order; subject's is "" when it is an object (then in receipt_subject). */
  receipt_fields: Array<[string, string]>
  receipt_subject: Array<[string, string]>
  receipt_key_count: string
  no_receipt: number
}

// The receipt's JSON as (field, JSON) pairs, its subject object's too, with subject.keys cut in the engine, so a list
// reads a few keys of each receipt. Parameter {listed:UInt32}.
const LISTED_COLUMNS = "tenant, request_id, type, status, subject_kind, subject_key, received_at, due_at, started_at, finished_at, " +
  "counts, details, error, receipt = '' AS no_receipt, " +
  "arrayMap(f -> (f.1, if(f.1 = 'subject' AND JSONType(f.2) = 'Object', '', f.2)), JSONExtractKeysAndValuesRaw(receipt)) AS receipt_fields, " +
  "if(JSONType(receipt, 'subject') = 'Object', arrayMap(f -> (f.1, if(f.1 = 'keys' AND JSONType(f.2) = 'Array', " +
  "concat('[', arrayStringConcat(arraySlice(JSONExtractArrayRaw(f.2), 1, {listed:UInt32}), ','), ']'), f.2)), " +
  "JSONExtractKeysAndValuesRaw(receipt, 'subject')), []) AS receipt_subject, " +
  "if(JSONType(receipt, 'subject', 'keys') = 'Array', JSONLength(receipt, 'subject', 'keys'), 0) AS receipt_key_count"

const listedOf = (row: ListedRow, listedKeys: number): ListedRequest => {
  const keyCount = Number(row.receipt_key_count)
  const subject = () => {
    const fields: Record<string, unknown> = Object.fromEntries(row.receipt_subject.map(([name, json]) => [name, JSON.parse(json)]))
    return keyCount > listedKeys ? { ...fields, keyCount } : fields
  }
  const receipt = row.no_receipt === 1 ? null
    : Object.fromEntries(row.receipt_fields.map(([name, json]) => [name, name === "subject" && json === "" ? subject() : JSON.parse(json)]))
  return {
    ...recordOf({ ...row, subject_keys: [], receipt: "" }), receipt, receiptKeyCount: keyCount,
  }
}

/**
 * Requests as a list shows them (ListedRequest: receipts' subject keys cut to `listedKeys`), oldest first: of one
 * tenant or all; `overdueAtMs`: only those not completed whose due date is before it (failed ones are still owed).
 */
export const listRequests = Effect.fn("listRequests")(function* (filter: {
  readonly tenant?: string | undefined
  readonly overdueAtMs?: number | undefined
  /** A page: at most `limit` requests after (received at, request id) `after` (a keyset, as GET /v1/dsr pages). */
  readonly page?: { readonly after?: { readonly receivedAtMs: number; readonly requestId: string } | undefined; readonly limit: number } | undefined
  /** How many of a receipt's subject keys are read. */
  readonly listedKeys: number
}) {
  const warehouse = yield* Warehouse
  const after = filter.page?.after
  const where = [
    ...(filter.tenant === undefined ? [] : ["tenant = {tenant:String}"]),
    ...(filter.overdueAtMs === undefined ? [] : ["status != 'completed'", "due_at < {now:DateTime64(3, 'UTC')}"]),
    ...(after === undefined ? [] : ["(received_at, request_id) > ({after_at:DateTime64(3, 'UTC')}, {after_id:String})"]),
  ]
  const rows = yield* warehouse.query<ListedRow>(
    `SELECT ${LISTED_COLUMNS} FROM dsr_requests FINAL ${where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`} ORDER BY received_at, request_id` +
      (filter.page === undefined ? "" : " LIMIT {limit:UInt32}"),
    {
      params: {
        tenant: filter.tenant ?? "", now: filter.overdueAtMs === undefined ? "" : chTime(filter.overdueAtMs), listed: filter.listedKeys,
        ...(after === undefined ? {} : { after_at: chTime(after.receivedAtMs), after_id: after.requestId }),
        ...(filter.page === undefined ? {} : { limit: filter.page.limit }),
      },
    })
  return rows.map((row) => listedOf(row, filter.listedKeys))
})

/** Requests left received or running (by a process that stopped before finishing them). */
export const unfinishedRequests = Effect.fn("unfinishedRequests")(function* () {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<RequestRow>(`SELECT ${COLUMNS} FROM dsr_requests FINAL WHERE status IN ('received', 'running')`)
  return rows.map(recordOf)
})

/** Earlier requests of a tenant about any of these keyed identifiers (e.g. whose access bundles an erasure removes). */
export const requestsAbout = Effect.fn("requestsAbout")(function* (tenant: string, keys: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<RequestRow>(
    `SELECT ${COLUMNS} FROM dsr_requests FINAL WHERE tenant = {tenant:String} ` +
      "AND (hasAny(subject_keys, {keys:Array(String)}) OR has({keys:Array(String)}, subject_key))",
    { params: { tenant, keys } })
  return rows.map(recordOf)
})

/** Marks profiles restricted (Art. 18) or lifts it, from `atMs`. */
export const storeRestriction = Effect.fn("storeRestriction")(function* (
  tenant: string, profileIds: ReadonlyArray<string>, restricted: boolean, requestId: string, atMs: number,
) {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("profile_restrictions", profileIds.map((profile_id) => ({
    tenant, profile_id, restricted: restricted ? 1 : 0, request_id: requestId, at: chTime(atMs),
  })))
})

/**
 * SQL: whether profile {profile:String} of {tenant:String} is restricted by id at {at:DateTime64(3, 'UTC')} (1 or 0),
 * as one value to embed in a bigger statement (a profile read asks it beside the ledger).
 */
export const profileRestrictedSql = "(SELECT argMax(restricted, at) = 1 FROM profile_restrictions WHERE tenant = {tenant:String} " +
  "AND profile_id = {profile:String} AND at <= {at:DateTime64(3, 'UTC')})"

/** The profiles among these that are restricted at `atMs` (default now). */
export const restrictedProfiles = Effect.fn("restrictedProfiles")(function* (tenant: string, profileIds: ReadonlyArray<string>, atMs?: number) {
  if (profileIds.length === 0) return new Set<string>()
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ profile_id: string }>(
    "SELECT profile_id FROM profile_restrictions WHERE tenant = {tenant:String} AND profile_id IN {ids:Array(String)} " +
      "AND at <= {at:DateTime64(3, 'UTC')} GROUP BY profile_id HAVING argMax(restricted, at) = 1",
    { params: { tenant, ids: profileIds, at: chTime(atMs ?? Date.now()) } })
  return new Set(rows.map((r) => r.profile_id))
})

/**
 * SQL selecting the restricted profiles of a tenant (parameter {consent_tenant:String}), as of
 * {consent_at:DateTime64(3, 'UTC')} when `at`: for queries over many profiles (the consent ledger's consentingProfiles)
 * to leave out as `profile_id NOT IN (<sql>)`.
 */
export const restrictedProfilesSql = (at: boolean) =>
  "SELECT profile_id FROM profile_restrictions WHERE tenant = {consent_tenant:String}" +
  (at ? " AND at <= {consent_at:DateTime64(3, 'UTC')}" : "") + " GROUP BY profile_id HAVING argMax(restricted, at) = 1"

/** Restricts (Art. 18) or lifts the restriction of identifiers (keyed hashes, with their kind), from `atMs`. */
export const storeSubjectRestriction = Effect.fn("storeSubjectRestriction")(function* (
  tenant: string, identifiers: ReadonlyArray<{ readonly key: string; readonly kind: string }>, restricted: boolean, requestId: string, atMs: number,
) {
  if (identifiers.length === 0) return
  const warehouse = yield* Warehouse
  yield* warehouse.insert("subject_restrictions", identifiers.map((i) => ({
    tenant, subject_key: i.key, kind: i.kind, restricted: restricted ? 1 : 0, request_id: requestId, at: chTime(atMs),
  })))
})

const RESTRICTED_SUBJECT_KEYS = "SELECT subject_key AS key, argMax(kind, at) AS kind FROM subject_restrictions WHERE tenant = {tenant:String} " +
  "AND at <= {at:DateTime64(3, 'UTC')} GROUP BY subject_key HAVING argMax(restricted, at) = 1 ORDER BY key"

/** SQL: restrictedSubjectKeys as one value to embed (an array of (key, kind)); parameters {tenant:String} and {at:...}. */
export const restrictedSubjectKeysSql = `(SELECT groupArray((key, kind)) FROM (${RESTRICTED_SUBJECT_KEYS}))`

/** The identifiers (keyed hashes, with their kind) of a tenant restricted at `atMs` (default now). */
export const restrictedSubjectKeys = Effect.fn("restrictedSubjectKeys")(function* (tenant: string, atMs?: number) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ key: string; kind: string }>(RESTRICTED_SUBJECT_KEYS, { params: { tenant, at: chTime(atMs ?? Date.now()) } })
})

/**
 * Whether a tenant holds anything at all: a landed message, a consent record or an identity observation. Each
 * table's order key starts with the tenant, so each check reads at most a granule. A request for a tenant holding
 * nothing most likely misspelt its name; its answer says so (consent/dsr.ts).
 */
export const tenantHoldsData = Effect.fn("tenantHoldsData")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  const any = (table: string) => `(SELECT count() FROM (SELECT 1 FROM ${table} WHERE tenant = {tenant:String} LIMIT 1))`
  const rows = yield* warehouse.query<{ held: number | string }>(
    `SELECT ${["event_rows", "consent_ledger", "identity_observations"].map(any).join(" + ")} AS held`, { params: { tenant } })
  return Number(rows[0]?.held ?? 0) > 0
})
