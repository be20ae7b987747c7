// `npm run bench`: every benchmark, each in its own process (chDB allows one data directory per process).
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const benches = ["pipeline.ts", "sentiment.ts"]
let failed = false
for (const bench of benches) {
  process.stdout.write(`\n== ${bench.replace(".ts", "")} ==\n`)
  const r = spawnSync(process.execPath, [fileURLToPath(new URL(bench, import.meta.url))], { stdio: "inherit" })
  if (r.status !== 0) failed = true
}
process.exitCode = failed ? 1 : 0
