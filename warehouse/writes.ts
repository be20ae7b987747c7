// Who wants to hear that this process changed the warehouse: after each insert (with its rows) and each command
// (INSERT ... SELECT, ALTER/DELETE mutations, DDL) has ended, every listener of that warehouse is told (also when it
// failed: a failed write may still have landed in part). The profile
// read cache (ingest/profile-read.ts) drops exactly the answers a write touched instead of re-reading the engine's
// catalogue on every request. Listeners run synchronously and must be cheap and never throw.
import { Context, Effect } from "effect"
import type { Row, WarehouseShape } from "./warehouse.ts"

/**
 * `tenant`: the one tenant whose rows the write changes, when its caller said so (WritesOfTenant): a listener that
 * cannot tell a write's reach from its SQL then drops that tenant's answers only, not every tenant's.
 */
export type WarehouseWrite =
  | { readonly kind: "insert"; readonly table: string; readonly rows: ReadonlyArray<Row>; readonly tenant?: string | undefined }
  | { readonly kind: "command"; readonly sql: string; readonly params: Record<string, unknown> | undefined; readonly tenant?: string | undefined }

/**
 * Set around work whose every write changes rows of one tenant only (an erasure: consent/erasure.ts): its writes are
 * told to listeners with that tenant. Its statements (mutations by fingerprints through scratch tables) say nothing a
 * listener can read a tenant from, so each one emptied every tenant's cached answers and profile documents.
 */
export const WritesOfTenant = Context.Reference<string | undefined>("cdp/WritesOfTenant", { defaultValue: () => undefined })

export type WriteListener = (write: WarehouseWrite) => void

const listeners = new WeakMap<WarehouseShape, Set<WriteListener>>()

/** Hears every successful write made through this warehouse; returns how to stop. */
export const onWarehouseWrite = (warehouse: WarehouseShape, listener: WriteListener): (() => void) => {
  let set = listeners.get(warehouse)
  if (set === undefined) listeners.set(warehouse, set = new Set())
  set.add(listener)
  return () => set.delete(listener)
}

/** Called by the warehouse Layers when a write has ended. */
export const warehouseWrote = (warehouse: WarehouseShape, write: WarehouseWrite): void => {
  const set = listeners.get(warehouse)
  if (set === undefined) return
  for (const listener of set) {
    try {
      listener(write)
    } catch { /* a listener's bug must not fail a write that has already happened */ }
  }
}

/** The table a write command targets (INSERT INTO t, ALTER TABLE t, DELETE FROM t, TRUNCATE/DROP/OPTIMIZE t), if any. */
export const commandTable = (sql: string): string | undefined => {
  const m = /^\s*(?:INSERT\s+INTO|ALTER\s+TABLE|DELETE\s+FROM|TRUNCATE\s+TABLE(?:\s+IF\s+EXISTS)?|OPTIMIZE\s+TABLE)\s+`?([A-Za-z_][\w.]*)`?/i.exec(sql)
  return m === null ? undefined : m[1]!.replace(/^.*\./, "")
}

/** warehouseWrote for a write that has ended, with the tenant the fiber's WritesOfTenant names (if any). */
export const noteWrite = (warehouse: WarehouseShape, write: WarehouseWrite): Effect.Effect<void> =>
  Effect.flatMap(Effect.service(WritesOfTenant), (tenant) => Effect.sync(() => warehouseWrote(warehouse, { ...write, tenant })))
