// A command started with its stdin redirected from a file (`cdp ingest ... < notes.txt`, a cron job, a CI step) lands
// what it lands as from a terminal. The embedded engine reads the host process's stdin as an INSERT's external data
// when it is a regular file (chdb-io/chdb-core#239): every insert failed (Code 48) and the pipeline retried forever.
import { spawnSync } from "node:child_process"
import { closeSync, openSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { CDP_BIN, REPO_ROOT, runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("stdin redirected from a file", () => {
  it("is never read by the engine: cdp ingest lands the file it was given, and cdp query reads it", () => {
    const file = join(dir, "web.ndjson")
    writeFileSync(file, `${JSON.stringify({ type: "track", userId: "u1", messageId: "m1", event: "Signed Up", timestamp: "2024-10-01T10:00:00Z" })}\n`)
    const stdin = join(dir, "unrelated.txt")
    writeFileSync(stdin, "(9999)\nnot for the engine\n")
    const fd = openSync(stdin, "r")
    try {
      const r = spawnSync(process.execPath, [CDP_BIN, "ingest", "--source", "segment", file, "--data-dir", join(dir, "data")], {
        cwd: REPO_ROOT, encoding: "utf8", stdio: [fd, "pipe", "pipe"], timeout: 60_000,
      })
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout).toContain("1 accepted (1 landed, 0 duplicates), 0 rejected")
      expect(r.stderr).toBe("")
    } finally {
      closeSync(fd)
    }
    const q = runCdp(["query", "SELECT count() AS n FROM events", "--data-dir", join(dir, "data")])
    expect(q.stdout.trim()).toBe('{"n":"1"}')
  }, 90_000)
})
