// `cdp ingest --source NAME -` saves stdin to a private temporary file first (cli/stdin.ts). What it says about that
// input names stdin, never the temporary file, and the copy is bounded (CDP_STDIN_MAX_BYTES): a stdin larger than the
// bound is refused with one line saying so, and the part already saved is removed, so a runaway pipe cannot fill the disk.
import { mkdirSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let tmp: string
beforeEach(() => {
  dir = freshDir()
  tmp = join(dir, "tmp")
  mkdirSync(tmp)
})
afterEach(() => removeDir(dir))

const line = (id: string) => `${JSON.stringify({ type: "track", userId: "u1", messageId: id, event: "Signed Up", timestamp: "2024-10-01T10:00:00Z" })}\n`
const ingest = (input: string, env: Record<string, string> = {}, extra: ReadonlyArray<string> = []) =>
  runCdp(["ingest", "--source", "segment", "-", "--data-dir", join(dir, "data"), ...extra], { input, env: { TMPDIR: tmp, ...env } })

describe("cdp ingest from stdin", () => {
  it("an empty or blank stdin is named as stdin, not as the temporary file; nothing is left in the temp dir", () => {
    for (const [input, extra] of [["", []], ["\n  \n", []], ["", ["--dry-run"]]] as const) {
      const r = ingest(input, {}, extra)
      expectOneLineError(r, "stdin holds nothing to ingest")
      expect(r.stderr).not.toContain(tmp)
      expect(r.stderr).not.toContain("cdp-stdin-")
      expect(readdirSync(tmp)).toEqual([])
    }
  }, 120_000)

  it("a stdin larger than CDP_STDIN_MAX_BYTES is refused naming the bound, and what was saved of it is removed", () => {
    const input = Array.from({ length: 50 }, (_, i) => line(`m${i}`)).join("")
    const r = ingest(input, { CDP_STDIN_MAX_BYTES: "1000" })
    expectOneLineError(r, "CDP_STDIN_MAX_BYTES")
    expect(r.stderr).toMatch(/^cdp: stdin holds more than 1000 bytes/)
    expect(readdirSync(tmp)).toEqual([])
    // Within the bound it lands.
    const ok = ingest(line("a") + line("b"), { CDP_STDIN_MAX_BYTES: "1000" })
    expect(ok.status, ok.stderr).toBe(0)
    expect(ok.stdout).toContain("2 accepted")
    expect(readdirSync(tmp)).toEqual([])
    expectOneLineError(ingest(line("c"), { CDP_STDIN_MAX_BYTES: "lots" }), "CDP_STDIN_MAX_BYTES must be")
  }, 120_000)
})
