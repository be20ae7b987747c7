// The operations table's one owner (migration 080): the states of the long operations servers run in their
// background (ingest/jobs.ts), kept so that they outlive the server that ran them.
import { Effect } from "effect"
import { chDateTime } from "./sink.ts"
import { Warehouse } from "./warehouse.ts"
import { nextVersion } from "./versions.ts"

export type OperationStatus = "running" | "done" | "failed" | "interrupted"

export interface OperationRecord {
  readonly id: string
  /** What it does: "relations-compute", "replay", "rescore", "retention", "identity-rebuild". */
  readonly kind: string
  /** The tenant it is for; undefined: every tenant. */
  readonly tenant: string | undefined
  /** What it was asked with (dates, source...). */
  readonly params: Readonly<Record<string, unknown>>
  readonly status: OperationStatus
  /** ISO-8601 times. */
  readonly startedAt: string
  readonly finishedAt: string | undefined
  /** The id of the token that started it. */
  readonly askedBy: string
  /** The run of the server that runs or ran it. */
  readonly server: string
  /** Done: what it did; failed: why ({status, rule, error}); otherwise empty. */
  readonly outcome: Readonly<Record<string, unknown>>
}

interface OperationRow {
  tenant: string
  id: string
  kind: string
  params: string
  status: OperationStatus
  started: string
  finished: string | null
  asked_by: string
  server: string
  outcome: string
}

// Times under other names: an alias named as its column would stand for it in WHERE and ORDER BY.
const COLUMNS = "tenant, id, kind, params, status, toString(started_at) AS started, " +
  "if(finished_at IS NULL, NULL, toString(finished_at)) AS finished, asked_by, server, outcome"

const isoOf = (text: string) => `${text.replace(" ", "T")}Z`

const parsed = (text: string): Record<string, unknown> => {
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {}
  } catch {
    return {}
  }
}

const recordOf = (row: OperationRow): OperationRecord => ({
  id: row.id, kind: row.kind, tenant: row.tenant === "" ? undefined : row.tenant, params: parsed(row.params), status: row.status,
  startedAt: isoOf(row.started), finishedAt: row.finished === null ? undefined : isoOf(row.finished),
  askedBy: row.asked_by, server: row.server, outcome: parsed(row.outcome),
})

/** Writes an operation's state (the latest version is its status). */
export const storeOperation = Effect.fn("storeOperation")(function* (r: OperationRecord) {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("operations", [{
    tenant: r.tenant ?? "", id: r.id, kind: r.kind, params: JSON.stringify(r.params), status: r.status,
    started_at: chDateTime(r.startedAt), finished_at: r.finishedAt === undefined ? null : chDateTime(r.finishedAt),
    asked_by: r.askedBy, server: r.server, outcome: JSON.stringify(r.outcome), version: nextVersion(),
  }])
})

/** One operation by id, as last recorded; undefined when none has that id. */
export const storedOperation = Effect.fn("storedOperation")(function* (id: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<OperationRow>(`SELECT ${COLUMNS} FROM operations FINAL WHERE id = {id:String} LIMIT 1`, { params: { id } })
  return rows[0] === undefined ? undefined : recordOf(rows[0])
})

/**
 * Operations newest first (by start, then id): of one tenant when `tenant` is given, else of all, and of one kind when
 * `kind` is; `limit` of them after `before` (a page's last [start ms, id]).
 */
export const storedOperations = Effect.fn("storedOperations")(function* (q: {
  readonly tenant: string | undefined
  readonly kind?: string | undefined
  readonly limit: number
  readonly before?: readonly [number, string] | undefined
}) {
  const warehouse = yield* Warehouse
  const where: Array<string> = []
  const params: Record<string, unknown> = { limit: q.limit }
  if (q.tenant !== undefined) {
    where.push("tenant = {tenant:String}")
    params["tenant"] = q.tenant
  }
  if (q.kind !== undefined) {
    where.push("kind = {kind:String}")
    params["kind"] = q.kind
  }
  if (q.before !== undefined) {
    where.push("(started_at, id) < (fromUnixTimestamp64Milli({beforeMs:Int64}, 'UTC'), {beforeId:String})")
    params["beforeMs"] = q.before[0]
    params["beforeId"] = q.before[1]
  }
  const rows = yield* warehouse.query<OperationRow>(
    `SELECT ${COLUMNS} FROM operations FINAL ${where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`} ORDER BY started_at DESC, id DESC LIMIT {limit:UInt32}`,
    { params })
  return rows.map(recordOf)
})

/**
 * Records as interrupted the operations left running by other runs of a server (a restart ended them): only where
 * one server at a time runs operations over the warehouse (the embedded engine, whose data dir one server holds).
 * Returns how many.
 */
export const interruptLeftRunning = Effect.fn("interruptLeftRunning")(function* (server: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<OperationRow>(
    `SELECT ${COLUMNS} FROM operations FINAL WHERE status = 'running' AND server != {server:String}`, { params: { server } })
  const now = new Date().toISOString()
  for (const row of rows) yield* storeOperation({ ...recordOf(row), status: "interrupted", finishedAt: now })
  return rows.length
})
