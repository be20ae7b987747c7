// Test support: a data dir seeded once per test file (each `cdp` process costs seconds of start-up), copied for a
// test that changes it, so that the tests of a file neither repeat the seeding nor depend on each other's order.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCdp } from "./cli.ts"
import { freshDir } from "./pipeline.ts"

export { copyDataDir } from "./warehouse-template.ts"

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
