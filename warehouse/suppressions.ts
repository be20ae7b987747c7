// The suppressions table's one owner (migration 025): keyed hashes of erased people's identifiers.
import { Effect } from "effect"
import { chDateTime } from "./sink.ts"
import { Warehouse } from "./warehouse.ts"

export interface SuppressionRow {
  readonly tenant: string
  readonly key: string
  readonly suppressed: boolean
  readonly reason: string
  readonly requestId: string
  readonly atMs: number
}

export const storeSuppressions = Effect.fn("storeSuppressions")(function* (rows: ReadonlyArray<SuppressionRow>) {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("suppressions", rows.map((r) => ({
    tenant: r.tenant, key: r.key, suppressed: r.suppressed ? 1 : 0, reason: r.reason, request_id: r.requestId,
    at: chDateTime(new Date(r.atMs).toISOString()),
  })))
})

/** The keys a tenant suppresses now (the latest row per key says 1). */
export const suppressedKeys = Effect.fn("suppressedKeys")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ key: string }>(
    "SELECT key FROM suppressions WHERE tenant = {tenant:String} GROUP BY key HAVING argMax(suppressed, at) = 1",
    { params: { tenant } })
  return new Set(rows.map((r) => r.key))
})
