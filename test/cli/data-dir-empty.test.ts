// `--data-dir ""` (say `--data-dir "$DATA"` with the variable unset) made the working directory the data dir: `cdp
// ingest` made it private (700) and wrote clickhouse/, objects/ and the keys into it. An empty or blank --data-dir is
// refused naming the flag, and the working directory is left as it was (an empty CDP_DATA_DIR is unset, as before).
import { mkdirSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { allLimited, runCdpAsync } from "../support/cli-async.ts"
import { REPO_ROOT } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("an empty --data-dir", () => {
  it("is one line naming the flag on every kind of command, and the working directory is untouched", async () => {
    const cwd = join(dir, "work")
    mkdirSync(cwd, { mode: 0o755 })
    const web = join(REPO_ROOT, "ingest/samples/web.ndjson")
    const commands: ReadonlyArray<ReadonlyArray<string>> = [
      ["ingest", "--source", "segment", web, "--data-dir", ""],
      ["ingest", "--source", "segment", web, "--data-dir", "  "],
      ["query", "SELECT 1", "--data-dir", ""],
      ["demo", "--data-dir", ""],
      ["serve", "--port", "0", "--data-dir", ""],
      ["relations", "compute", "--data-dir", ""],
      ["audience", "refresh", "--data-dir", ""],
      ["retention", "apply", "--data-dir", ""],
    ]
    const results = await allLimited(commands.map((args) => () => runCdpAsync(args, { cwd })))
    for (const r of results) expectOneLineError(r, "--data-dir")
    expect(readdirSync(cwd)).toEqual([])
    expect(statSync(cwd).mode & 0o777).toBe(0o755)
  })
})
