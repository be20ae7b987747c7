// Test support: what landed in a data dir, read in the test's own process through the Warehouse service (the embedded
// engine) instead of a `cdp query` process (seconds of start-up each). For checks of the data only: a test of what
// `cdp query` prints runs the command.
import { Effect, Logger } from "effect"
import { backendConfig, warehouseLayer } from "../../cli/layers.ts"
import { query } from "./pipeline.ts"

/** Rows of `sql` on `dataDir`, which no process may hold; the warehouse is closed again before this resolves. */
export const landed = <T = Record<string, unknown>>(dataDir: string, sql: string): Promise<ReadonlyArray<T>> =>
  Effect.runPromise(Effect.scoped(query<T>(sql)).pipe(Effect.provide(warehouseLayer(backendConfig(dataDir))), Effect.provide(Logger.layer([]))))
