// Test support: a data dir seeded once per test file (each `cdp` process costs seconds of start-up), copied for a
// test that changes it, so that the tests of a file neither repeat the seeding nor depend on each other's order.
import { chmodSync, cpSync } from "node:fs"

/**
 * Copies a data dir no process holds. ClickHouse's tables are relative symlinks into its store, kept as they are
 * (verbatimSymlinks; resolved, they would point back into the source); the copy is private, as cdp makes data dirs.
 */
export const copyDataDir = (from: string, to: string): string => {
  cpSync(from, to, { recursive: true, verbatimSymlinks: true })
  chmodSync(to, 0o700)
  return to
}
