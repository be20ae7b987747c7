// The data dir holds personal data (warehouse, raw archive) and secrets (write key, admin token): only its owner
// may read anything in it.
import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** Every file and directory under `root` (symbolic links have no permissions of their own) that others may open. */
const readableByOthers = (root: string): Array<string> => {
  const found: Array<string> = []
  const walk = (path: string) => {
    const stat = lstatSync(path)
    if (stat.isSymbolicLink()) return
    if ((stat.mode & 0o077) !== 0) found.push(`${path} ${(stat.mode & 0o777).toString(8)}`)
    if (stat.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry))
  }
  walk(root)
  return found
}

describe("files on disk", () => {
  it("after cdp demo and cdp ingest, no file or dir under the data dir is readable by group or others", () => {
    const demo = join(dir, "demo")
    expect(runCdp(["demo", "--data-dir", demo]).status).toBe(0)
    const data = join(dir, "data")
    const ingest = runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", data])
    expect(ingest.status).toBe(0)
    for (const root of [demo, data]) {
      // The warehouse and the raw archive are both there, and both private.
      expect(readdirSync(root)).toEqual(expect.arrayContaining(["clickhouse", "objects"]))
      expect(readableByOthers(root)).toEqual([])
    }
  })

  it("an existing data dir readable by others is made private when opened, and says so", () => {
    const data = join(dir, "data")
    mkdirSync(data)
    chmodSync(data, 0o755)
    const r = runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", data])
    expect(r.status).toBe(0)
    expect(r.stderr).toContain(`data dir ${data} was readable by other users (mode 755); made it private (700)`)
    expect(statSync(data).mode & 0o777).toBe(0o700)
    expect(readableByOthers(data)).toEqual([])
  })

  // Seen: `chmod 555 D; cdp demo --data-dir D` said 'was readable by other users (mode 555); made it private (700)',
  // giving its owner back the write its owner had taken away.
  it("making a data dir private takes group's and others' rights away and gives its owner none", () => {
    const data = join(dir, "data")
    mkdirSync(data)
    chmodSync(data, 0o555)
    // Whether the command may then write (root may) is not the point: what the dir's mode became is.
    const r = runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", data])
    expect(r.stderr).toContain(`data dir ${data} was readable by other users (mode 555); made it private (500)`)
    expect(statSync(data).mode & 0o777).toBe(0o500)
    chmodSync(data, 0o700)
  })
})
