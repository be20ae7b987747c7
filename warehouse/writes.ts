// Who wants to hear that this process changed the warehouse: after each insert (with its rows) and each command
// (INSERT ... SELECT, ALTER/DELETE mutations, DDL) has ended, every listener of that warehouse is told (also when it
// failed: a failed write may still have landed in part). The profile
// read cache (ingest/profile-read.ts) drops exactly the answers a write touched instead of re-reading the engine's
// catalogue on every request. Listeners run synchronously and must be cheap and never throw.
import type { Row, WarehouseShape } from "./warehouse.ts"

export type WarehouseWrite =
  | { readonly kind: "insert"; readonly table: string; readonly rows: ReadonlyArray<Row> }
  | { readonly kind: "command"; readonly sql: string; readonly params: Record<string, unknown> | undefined }

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
