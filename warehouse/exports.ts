// The export tables (migration 065): what each destination holds of each profile, sync cursors, the delivery log,
// export dead letters and the deletions erasures queued. Rows name profiles by id and destinations' records by their
// ids; the values sent are never stored here (a replay reads the profile again).
import { Effect } from "effect"
import { allowedSql, type ConsentFilter } from "./consent-filter.ts"
import { currentProfileSql, mayHoldNowInSql } from "./current-profile.ts"
import { CLAIMED_BY_PROFILE_SQL } from "./profiles.ts"
import { Warehouse } from "./warehouse.ts"
import { nextVersion } from "./versions.ts"

const iso = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "")

/** A profile as an export reads it, with what the destination last received of it. */
export interface CandidateRow {
  readonly profile_id: string
  readonly identifiers: ReadonlyArray<[string, string]>
  /** Trait name to its value as JSON text. */
  readonly traits: Readonly<Record<string, string>>
  readonly first_seen: string
  readonly last_seen: string
  /** "" when never delivered. */
  readonly fingerprint: string
  readonly present: number
  readonly remote_id: string
  /** The latest `cdp relations compute` of the profile; null (all five) when it has not scored it. */
  readonly relationship_type?: string | null
  readonly health_score?: number | null
  readonly churn_risk?: number | null
  readonly sentiment_trend?: number | null
  readonly relationship_as_of?: string | null
  /**
   * Identifiers ("kind:value") the profile's messages only claimed while another user id holds them (identity refused
   * the link): never sent as the profile's, as an identifier or as a trait holding one (ingest/destinations/record.ts).
   */
  readonly claimed?: ReadonlyArray<string>
}

export type { ConsentFilter }

const STATE = "SELECT profile_id, argMax(fingerprint, version) AS fingerprint, argMax(present, version) AS present, " +
  "argMax(remote_id, version) AS remote_id FROM export_state WHERE tenant = {tenant:String} AND destination = {destination:String} GROUP BY profile_id"

const OPEN_LETTERS = "SELECT profile_id FROM export_dead_letters WHERE tenant = {tenant:String} AND destination = {destination:String} " +
  "GROUP BY batch_id, profile_id HAVING argMax(replayed, version) = 0"

/** When the tenant's latest relations run was computed (epoch 0 when none): its scores are what profiles show. */
const LATEST_RELATIONS_RUN = "(SELECT max(computed_at) FROM relation_runs WHERE tenant = {tenant:String})"

/**
 * Consenting profiles a destination may need: with `sinceMs`, only those with messages ingested after it, every
 * scored profile when a relations run was computed after it (their relationship traits may have moved), and those it
 * does not hold yet (unless dead-lettered); without, every consenting profile (a backfill). `onlyIds` restricts to a list
 * (a replay, an audience's entries). The caller compares fingerprints, so a profile returned unchanged is not sent.
 */
export const exportCandidates = Effect.fn("exportCandidates")(function* (options: {
  readonly tenant: string
  readonly destination: string
  readonly consent: ConsentFilter
  readonly sinceMs?: number | undefined
  readonly onlyIds?: ReadonlyArray<string> | undefined
}) {
  const warehouse = yield* Warehouse
  const params: Record<string, unknown> = { ...options.consent.params, tenant: options.tenant, destination: options.destination }
  // The profiles view holds profiles with events only, so the filter applies as it is.
  const where = [`p.tenant = {tenant:String}`, allowedSql("p.profile_id", options.consent)]
  if (options.onlyIds !== undefined) {
    params["only"] = options.onlyIds
    where.push("p.profile_id IN {only:Array(String)}")
  }
  if (options.sinceMs !== undefined) {
    params["since"] = iso(options.sinceMs)
    // Not there yet, and not dead-lettered (those wait for a change of theirs, or a replay, instead of failing anew each run).
    where.push("(p.profile_id IN (SELECT profile_id FROM events WHERE tenant = {tenant:String} AND ingested_at > {since:DateTime64(3, 'UTC')}) " +
      `OR (p.relationship_type IS NOT NULL AND ${LATEST_RELATIONS_RUN} > {since:DateTime64(3, 'UTC')}) ` +
      `OR (s.present != 1 AND p.profile_id NOT IN (${OPEN_LETTERS})))`)
  }
  return yield* warehouse.query<CandidateRow>(
    "SELECT p.profile_id AS profile_id, p.identifiers AS identifiers, p.traits AS traits, toString(p.first_seen) AS first_seen, " +
      "toString(p.last_seen) AS last_seen, s.fingerprint AS fingerprint, s.present AS present, s.remote_id AS remote_id, " +
      "p.relationship_type AS relationship_type, p.health_score AS health_score, p.churn_risk AS churn_risk, " +
      "p.sentiment_trend AS sentiment_trend, toString(p.relationship_as_of) AS relationship_as_of, c.claimed AS claimed " +
      `FROM profiles AS p LEFT JOIN (${STATE}) AS s ON s.profile_id = p.profile_id LEFT JOIN (${CLAIMED_BY_PROFILE_SQL}) AS c ON c.profile_id = p.profile_id ` +
      `WHERE ${where.join(" AND ")} ORDER BY p.profile_id`,
    { params })
})

const PRESENT = `SELECT profile_id FROM (${STATE}) WHERE present = 1`

/**
 * Which of the profiles the destination holds still hold a message now (a merge or split can move all of a profile's
 * messages away; an erasure deletes them): their messages are read through event_rows' order key and the moves.
 */
const stillHeld = (tenant: string) => {
  const current = currentProfileSql(tenant, "e")
  return {
    params: current.params,
    sql: `SELECT DISTINCT ${current.profileId} AS held FROM (SELECT message_id, profile_id FROM event_rows WHERE tenant = {tenant:String} ` +
      `AND ${mayHoldNowInSql(`(${PRESENT})`)}) AS e ${current.join} WHERE held IN (${PRESENT})`,
  }
}

/** Profiles the destination holds (present) that the consent filter no longer allows, or that no longer exist. */
export const exportRemovals = Effect.fn("exportRemovals")(function* (options: {
  readonly tenant: string
  readonly destination: string
  readonly consent: ConsentFilter
  readonly alsoIds?: ReadonlyArray<string>
}) {
  const warehouse = yield* Warehouse
  // An "only" filter lists profiles with consent, so one gone is not in it; an "allBut" filter names the refused only,
  // so a profile gone is found by looking for its messages.
  const held = options.consent.uses === "allBut" ? stillHeld(options.tenant) : undefined
  return yield* warehouse.query<{ profile_id: string; remote_id: string }>(
    `SELECT profile_id, remote_id FROM (${STATE}) WHERE present = 1 AND (NOT ${allowedSql("profile_id", options.consent)} ` +
      (held === undefined ? "" : `OR profile_id NOT IN (${held.sql}) `) + "OR profile_id IN {also:Array(String)}) ORDER BY profile_id",
    { params: { ...options.consent.params, ...held?.params, tenant: options.tenant, destination: options.destination, also: options.alsoIds ?? [] } })
})

export interface StateRow {
  readonly profileId: string
  readonly fingerprint: string
  readonly present: boolean
  readonly remoteId: string
}

/** Records what the destination now holds of these profiles (after it confirmed them). */
export const recordExportState = Effect.fn("recordExportState")(function* (tenant: string, destination: string, rows: ReadonlyArray<StateRow>) {
  if (rows.length === 0) return
  const warehouse = yield* Warehouse
  const now = Date.now()
  const version = nextVersion()
  yield* warehouse.insert("export_state", rows.map((r) => ({
    tenant, destination, profile_id: r.profileId, fingerprint: r.fingerprint, present: r.present ? 1 : 0, remote_id: r.remoteId,
    version, synced_at: iso(now),
  })))
})

/** How many profiles the destination holds now. */
export const presentCount = Effect.fn("presentCount")(function* (tenant: string, destination: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ n: string }>(`SELECT count() AS n FROM (${STATE}) WHERE present = 1`, { params: { tenant, destination } })
  return Number(rows[0]?.n ?? 0)
})

export interface Cursor {
  readonly cursorMs: number
  readonly audienceCursor: string
  readonly syncedAt: string
}

export const readCursor = Effect.fn("readCursor")(function* (tenant: string, destination: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ cursor: string; audience_cursor: string; synced_at: string }>(
    "SELECT toString(argMax(cursor, version)) AS cursor, argMax(audience_cursor, version) AS audience_cursor, " +
      "toString(argMax(synced_at, version)) AS synced_at FROM export_cursors WHERE tenant = {tenant:String} AND destination = {destination:String} " +
      "GROUP BY tenant, destination",
    { params: { tenant, destination } })
  const r = rows[0]
  return r === undefined ? undefined : { cursorMs: Date.parse(`${r.cursor.replace(" ", "T")}Z`), audienceCursor: r.audience_cursor, syncedAt: r.synced_at } as Cursor
})

export const writeCursor = Effect.fn("writeCursor")(function* (tenant: string, destination: string, cursorMs: number, audienceCursor: string) {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("export_cursors", [{
    tenant, destination, cursor: iso(cursorMs), audience_cursor: audienceCursor, version: nextVersion(), synced_at: iso(Date.now()),
  }])
})

/**
 * The newest change a sync reads up to (its high-water mark), or undefined when the tenant has no message: the latest
 * ingestion of a message or relations run, whichever came last.
 */
export const changesHighWater = Effect.fn("changesHighWater")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ at: string; n: string }>(
    `SELECT toString(greatest(max(ingested_at), ${LATEST_RELATIONS_RUN})) AS at, count() AS n FROM events WHERE tenant = {tenant:String}`,
    { params: { tenant } })
  const r = rows[0]
  return r === undefined || Number(r.n) === 0 ? undefined : Date.parse(`${r.at.replace(" ", "T")}Z`)
})

export interface Delivery {
  readonly tenant: string
  readonly destination: string
  readonly runId: string
  readonly batchId: string
  readonly operation: string
  readonly attempt: number
  /** delivered | partial | retry | dead-lettered | refused | skipped */
  readonly outcome: string
  readonly httpStatus: number
  readonly records: number
  readonly failed: number
  /** The destination's answer in words; never a record's values. */
  readonly detail: string
  readonly durationMs: number
  readonly atMs: number
}

export const logDeliveries = Effect.fn("logDeliveries")(function* (rows: ReadonlyArray<Delivery>) {
  if (rows.length === 0) return
  const warehouse = yield* Warehouse
  yield* warehouse.insert("export_deliveries", rows.map((d) => ({
    tenant: d.tenant, destination: d.destination, run_id: d.runId, batch_id: d.batchId, operation: d.operation, attempt: d.attempt,
    outcome: d.outcome, http_status: d.httpStatus, records: d.records, failed: d.failed, detail: d.detail.slice(0, 500),
    duration_ms: Math.max(0, Math.round(d.durationMs)), at: iso(d.atMs),
  })))
})

/** Where a page of the history ends: its last row's (at, attempt, run, batch, operation), the keyset the next page starts below. */
export type DeliveryKey = readonly [at: string, attempt: number, runId: string, batchId: string, operation: string]

export const deliveryHistory = Effect.fn("deliveryHistory")(function* (tenant: string, destination: string, limit: number, before?: DeliveryKey) {
  const warehouse = yield* Warehouse
  // The time is read as text under another name: aliased `at`, it stood for the text in the WHERE too, and a page after
  // a cursor failed (no comparison of String with DateTime64), answered 500.
  const rows = yield* warehouse.query<{
    at_text: string; run_id: string; batch_id: string; operation: string; attempt: number; outcome: string; http_status: number
    records: number; failed: number; detail: string; duration_ms: number
  }>(
    "SELECT toString(at) AS at_text, run_id, batch_id, operation, attempt, outcome, http_status, records, failed, detail, duration_ms " +
      "FROM export_deliveries WHERE tenant = {tenant:String} AND destination = {destination:String}" +
      (before === undefined ? "" : " AND (at, attempt, run_id, batch_id, operation) < ({b_at:DateTime64(3, 'UTC')}, {b_attempt:UInt64}, {b_run:String}, {b_batch:String}, {b_op:String})") +
      " ORDER BY at DESC, attempt DESC, run_id DESC, batch_id DESC, operation DESC LIMIT {limit:UInt32}",
    {
      params: {
        tenant, destination, limit,
        ...(before === undefined ? {} : { b_at: before[0], b_attempt: before[1], b_run: before[2], b_batch: before[3], b_op: before[4] }),
      },
    })
  return rows.map(({ at_text, ...row }) => ({ at: at_text, ...row }))
})

/** Per run of a destination: when, what it did, the worst outcome. */
export const lastRun = Effect.fn("lastRun")(function* (tenant: string, destination: string) {
  const warehouse = yield* Warehouse
  // Aliases differ from the columns: ClickHouse would read a column name inside another aggregate as the alias.
  const rows = yield* warehouse.query<{ run_id: string; started: string; ended: string; sent_ok: string; sent_failed: string }>(
    "SELECT run_id, toString(min(at)) AS started, toString(max(at)) AS ended, " +
      "sumIf(records - failed, outcome IN ('delivered', 'partial')) AS sent_ok, " +
      "sumIf(failed, outcome = 'partial') + sumIf(records, outcome IN ('dead-lettered', 'refused')) AS sent_failed " +
      "FROM export_deliveries WHERE tenant = {tenant:String} AND destination = {destination:String} " +
      "GROUP BY run_id ORDER BY max(at) DESC LIMIT 1",
    { params: { tenant, destination } })
  const r = rows[0]
  return r === undefined ? undefined : { runId: r.run_id, started: r.started, ended: r.ended, delivered: Number(r.sent_ok), failed: Number(r.sent_failed) }
})

export interface DeadLetter {
  readonly batchId: string
  readonly profileId: string
  readonly operation: string
  readonly reason: string
  readonly attempts: number
}

export const recordDeadLetters = Effect.fn("recordDeadLetters")(function* (tenant: string, destination: string, rows: ReadonlyArray<DeadLetter>, replayed = false) {
  if (rows.length === 0) return
  const warehouse = yield* Warehouse
  const version = nextVersion()
  yield* warehouse.insert("export_dead_letters", rows.map((r) => ({
    tenant, destination, batch_id: r.batchId, profile_id: r.profileId, operation: r.operation, reason: r.reason.slice(0, 500),
    attempts: r.attempts, replayed: replayed ? 1 : 0, version, at: iso(Date.now()),
  })))
})

// A destination's open dead letters (not replayed) and pending erasures (not done), each its latest version: listed
// by openDeadLetters and pendingErasures, counted by openCounts.
const OPEN_LETTERS_OF = "FROM export_dead_letters WHERE tenant = {tenant:String} AND destination = {destination:String} " +
  "GROUP BY batch_id, profile_id HAVING argMax(replayed, version) = 0"
const PENDING_ERASURES_OF = "FROM export_erasures WHERE tenant = {tenant:String} AND destination = {destination:String} " +
  "GROUP BY remote_id HAVING argMax(done, version) = 0"

/** How many dead letters are open and erasures pending (a destination's status): counted, not read. */
export const openCounts = Effect.fn("openCounts")(function* (tenant: string, destination: string) {
  const warehouse = yield* Warehouse
  const [row] = yield* warehouse.query<{ letters: string; erasures: string }>(
    `SELECT (SELECT count() FROM (SELECT 1 ${OPEN_LETTERS_OF})) AS letters, (SELECT count() FROM (SELECT 1 ${PENDING_ERASURES_OF})) AS erasures`,
    { params: { tenant, destination } })
  return { deadLetters: Number(row?.letters ?? 0), erasuresPending: Number(row?.erasures ?? 0) }
})

/** Dead letters not replayed yet, oldest first. */
export const openDeadLetters = Effect.fn("openDeadLetters")(function* (tenant: string, destination: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ batch_id: string; profile_id: string; operation: string; reason: string; attempts: number }>(
    "SELECT batch_id, profile_id, argMax(operation, version) AS operation, argMax(reason, version) AS reason, argMax(attempts, version) AS attempts " +
      `${OPEN_LETTERS_OF} ORDER BY min(at), batch_id, profile_id`,
    { params: { tenant, destination } })
  return rows.map((r): DeadLetter => ({ batchId: r.batch_id, profileId: r.profile_id, operation: r.operation, reason: r.reason, attempts: Number(r.attempts) }))
})

/**
 * An erasure's first step for destinations: every record a destination holds of the subject's profiles (present, or
 * kept there after a withdrawal) is queued for deletion there by the destination's record id; the profile rows
 * themselves are erased next, like any table's.
 */
export const queueExportErasures = Effect.fn("queueExportErasures")(function* (tenant: string, profileIds: ReadonlyArray<string>, requestId: string) {
  if (profileIds.length === 0) return 0
  const warehouse = yield* Warehouse
  const held = yield* warehouse.query<{ destination: string; remote_id: string }>(
    "SELECT destination, argMax(remote_id, version) AS remote_id FROM export_state WHERE tenant = {tenant:String} AND profile_id IN {ids:Array(String)} " +
      "GROUP BY destination, profile_id HAVING remote_id != ''",
    { params: { tenant, ids: profileIds } })
  if (held.length === 0) return 0
  const version = nextVersion()
  yield* warehouse.insert("export_erasures", held.map((h) => ({
    tenant, destination: h.destination, remote_id: h.remote_id, request_id: requestId, done: 0, attempts: 0, last_error: "", version, queued_at: iso(Date.now()),
  })))
  return held.length
})

/**
 * Queues erasures of records a destination took for profiles erased meanwhile (a sync that sent them while their
 * erasure ran): by the destination's record ids, as queueExportErasures does from export_state, which held none of them.
 */
export const queueRemoteErasures = Effect.fn("queueRemoteErasures")(function* (tenant: string, destination: string, remoteIds: ReadonlyArray<string>) {
  const ids = remoteIds.filter((id) => id !== "")
  if (ids.length === 0) return 0
  const version = nextVersion()
  yield* (yield* Warehouse).insert("export_erasures", ids.map((remoteId) => ({
    tenant, destination, remote_id: remoteId, request_id: "", done: 0, attempts: 0, last_error: "", version, queued_at: iso(Date.now()),
  })))
  return ids.length
})

export interface PendingErasure {
  readonly remoteId: string
  readonly requestId: string
  readonly attempts: number
}

export const pendingErasures = Effect.fn("pendingErasures")(function* (tenant: string, destination: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ remote_id: string; request_id: string; attempts: number }>(
    "SELECT remote_id, argMax(request_id, version) AS request_id, argMax(attempts, version) AS attempts " +
      `${PENDING_ERASURES_OF} ORDER BY min(queued_at), remote_id`,
    { params: { tenant, destination } })
  return rows.map((r): PendingErasure => ({ remoteId: r.remote_id, requestId: r.request_id, attempts: Number(r.attempts) }))
})

export const recordErasureAttempts = Effect.fn("recordErasureAttempts")(function* (
  tenant: string, destination: string, rows: ReadonlyArray<PendingErasure & { readonly done: boolean; readonly error: string }>,
) {
  if (rows.length === 0) return
  const warehouse = yield* Warehouse
  const version = nextVersion()
  yield* warehouse.insert("export_erasures", rows.map((r) => ({
    tenant, destination, remote_id: r.remoteId, request_id: r.requestId, done: r.done ? 1 : 0, attempts: r.attempts, last_error: r.error.slice(0, 500),
    version, queued_at: iso(Date.now()),
  })))
})
