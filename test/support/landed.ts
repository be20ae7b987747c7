// Test support: what landed in a data dir, read in the test's own process through the Warehouse service (the embedded
// engine) instead of a `cdp query` process (seconds of start-up each). For checks of the data only: a test of what
// `cdp query` prints runs the command.
import { existsSync } from "node:fs"
import { Effect, Logger } from "effect"
import { backendConfig, embeddedWarehouseDir, warehouseLayer } from "../../cli/layers.ts"
import { query } from "./pipeline.ts"

/**
 * Rows of `sql` on `dataDir`, which no process may hold; the warehouse is closed again before this resolves. Like
 * `cdp query`, it only reads: a data dir that holds no warehouse is an error, not an empty one made on the spot (where
 * a check that nothing landed would pass whatever happened).
 */
export const landed = async <T = Record<string, unknown>>(dataDir: string, sql: string): Promise<ReadonlyArray<T>> => {
  if (!existsSync(embeddedWarehouseDir(dataDir))) throw new Error(`${dataDir} holds no warehouse`)
  return Effect.runPromise(Effect.scoped(query<T>(sql)).pipe(Effect.provide(warehouseLayer(backendConfig(dataDir))), Effect.provide(Logger.layer([]))))
}
