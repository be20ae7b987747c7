// `npm run bench`: every benchmark, each in its own process (chDB allows one data directory per process).
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

/** Each bench with the Node flags it needs (identity measures heap with global.gc). */
const benches: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["pipeline.ts", []],
  ["sentiment.ts", []],
  ["identity.ts", ["--expose-gc"]],
  ["profiles.ts", []],
  ["relations.ts", []],
  ["erasure.ts", []],
  ["audiences.ts", []],
  ["exports.ts", []],
  ["kafka.ts", []],
  ["restart.ts", []],
]
let failed = false
for (const [bench, flags] of benches) {
  process.stdout.write(`\n== ${bench.replace(".ts", "")} ==\n`)
  const r = spawnSync(process.execPath, [...flags, fileURLToPath(new URL(bench, import.meta.url))], { stdio: "inherit" })
  if (r.status !== 0) failed = true
}
process.exitCode = failed ? 1 : 0
