// Test support: a data dir seeded once per test file (each `cdp` process costs seconds of start-up), copied for a
// test that changes it, so that the tests of a file neither repeat the seeding nor depend on each other's order.
import { chmodSync, cpSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCdp } from "./cli.ts"
import { freshDir } from "./pipeline.ts"

/**
 * Copies a data dir no process holds. ClickHouse's tables are relative symlinks into its store, kept as they are
 * (verbatimSymlinks; resolved, they would point back into the source); the copy is private, as cdp makes data dirs.
 */
export const copyDataDir = (from: string, to: string): string => {
  cpSync(from, to, { recursive: true, verbatimSymlinks: true })
  chmodSync(to, 0o700)
  return to
}

/**
 * A fresh directory whose data dir (`data`) holds `messages` (Segment messages) landed with `cdp ingest`, as a
 * customer's file would be; throws with cdp's stderr if it wrote any. Remove `dir` after the tests.
 */
export const ingestedDataDir = (messages: ReadonlyArray<Record<string, unknown>>): { readonly dir: string; readonly data: string } => {
  const dir = freshDir()
  const data = join(dir, "data")
  writeFileSync(join(dir, "web.ndjson"), messages.map((m) => JSON.stringify(m)).join("\n"))
  const r = runCdp(["ingest", "--source", "segment", join(dir, "web.ndjson"), "--data-dir", data])
  if (r.status !== 0 || r.stderr !== "") throw new Error(`cdp ingest of the seed failed (exit ${r.status}): ${r.stderr}`)
  return { dir, data }
}
