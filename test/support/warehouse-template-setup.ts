// vitest global setup: the run's migrated warehouse template (warehouse-template.ts), made once before the test files
// run, in a process of its own, where no hook's timeout applies; removed after the run.
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/** Names the template's directory for the test processes; unset when it could not be made (they then migrate). */
export const TEMPLATE_ENV = "CDP_TEST_WAREHOUSE_TEMPLATE"

const MAKE = fileURLToPath(new URL("./warehouse-template-make.ts", import.meta.url))

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), "cdp-test-template-"))
  const template = join(root, "clickhouse")
  // Migrating takes seconds (34-56 s at load ~28 for a process at nice 19); ten minutes only ends one that hangs.
  const made = spawnSync(process.execPath, [MAKE, template], { encoding: "utf8", timeout: 600_000 })
  if (made.status === 0) {
    process.env[TEMPLATE_ENV] = template
  } else {
    // Each test then opens a fresh warehouse, migrating it, and a migration that fails says so in the tests.
    process.stderr.write(`warehouse template not made (exit ${made.status ?? made.signal}); tests migrate their own: ${made.stderr}\n`)
  }
  return () => rmSync(root, { recursive: true, force: true })
}
