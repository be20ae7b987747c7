// `cdp replay` says when it left something out: exit 1, naming what, after replaying the rest.
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const batchesUnder = (root: string): Array<string> =>
  readdirSync(root, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ndjson.gz")).map((f) => join(root, f))

describe("cdp replay", () => {
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10)

  it("exits 0 when everything was replayed, and 1 naming a corrupt batch it skipped", () => {
    const data = join(dir, "data")
    expect(runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", data]).status).toBe(0)
    const range = ["--from", day(-1), "--to", day(1), "--data-dir", data]
    const clean = runCdp(["replay", ...range])
    expect(clean.stderr).toBe("")
    expect(clean.status).toBe(0)
    expect(clean.stdout).toContain("1509 accepted (0 landed, 1509 already there)")

    const [batch] = batchesUnder(join(data, "objects", "archive"))
    const bytes = readFileSync(batch!)
    bytes[bytes.length - 5]! ^= 0xff
    writeFileSync(batch!, bytes)
    const r = runCdp(["replay", ...range])
    expect(r.status).toBe(1)
    expect(r.stdout).toContain("corrupt batch skipped")
    const key = batch!.slice(join(data, "objects").length + 1)
    // Its last line (before it, a warning log line per corrupt batch) names what was skipped and why.
    expect(r.stderr.slice(r.stderr.trimEnd().lastIndexOf("\n") + 1)).toMatch(new RegExp(`^cdp: replay incomplete: 1 corrupt archive batch skipped \\(${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: checksum mismatch.*the rest was replayed\\n$`))
  })
})
