// A command started with stdin holding data (`cdp ingest web.ndjson < notes.txt`, `echo x | cdp ...`, a cron job, a CI
// step) lands what it lands as from a terminal. The embedded engine reads the host process's stdin as an INSERT's
// external data when it holds data (chdb-io/chdb-core#239): every insert failed (Code 48) and the pipeline retried
// forever. And `cdp ingest --source NAME -` reads the file from stdin, redirected or piped.
import { spawnSync } from "node:child_process"
import { closeSync, openSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { CDP_BIN, REPO_ROOT, runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const line = (id: string) => `${JSON.stringify({ type: "track", userId: "u1", messageId: id, event: "Signed Up", timestamp: "2024-10-01T10:00:00Z" })}\n`

/** `cdp ARGS < file`: stdin is the file itself (a regular file, as a shell redirect gives it). */
const withStdinFile = (args: ReadonlyArray<string>, stdinFile: string) => {
  const fd = openSync(stdinFile, "r")
  try {
    return spawnSync(process.execPath, [CDP_BIN, ...args], { cwd: REPO_ROOT, encoding: "utf8", stdio: [fd, "pipe", "pipe"], timeout: 60_000 })
  } finally {
    closeSync(fd)
  }
}

const count = (data: string) => runCdp(["query", "SELECT count() AS n FROM events", "--data-dir", data]).stdout.trim()

describe("stdin holding data", () => {
  it("is never read by the engine: cdp ingest lands the file it was given, stdin a file or a pipe", () => {
    const file = join(dir, "web.ndjson")
    writeFileSync(file, line("m1"))
    const unrelated = join(dir, "unrelated.txt")
    writeFileSync(unrelated, "(9999)\nnot for the engine\n")
    const data = join(dir, "data")
    const redirected = withStdinFile(["ingest", "--source", "segment", file, "--data-dir", data], unrelated)
    expect(redirected.status, redirected.stderr).toBe(0)
    expect(redirected.stdout).toContain("1 accepted (1 landed, 0 duplicates), 0 rejected")
    expect(redirected.stderr).toBe("")
    const piped = runCdp(["ingest", "--source", "segment", file, "--data-dir", data], { input: "(9999)\nnot for the engine\n" })
    expect(piped.status, piped.stderr).toBe(0)
    expect(piped.stdout).toContain("1 accepted (0 landed, 1 duplicates)")
    expect(count(data)).toBe('{"n":"1"}')
  }, 120_000)

  it("cdp ingest --source NAME - reads the file from stdin, piped or redirected; --dry-run too", () => {
    const data = join(dir, "data")
    const piped = runCdp(["ingest", "--source", "segment", "-", "--data-dir", data], { input: line("m1") + line("m2") })
    expect(piped.status, piped.stderr).toBe(0)
    expect(piped.stdout).toContain("2 accepted (2 landed, 0 duplicates), 0 rejected")
    const file = join(dir, "more.ndjson")
    writeFileSync(file, line("m3"))
    const redirected = withStdinFile(["ingest", "--source", "segment", "-", "--data-dir", data], file)
    expect(redirected.status, redirected.stderr).toBe(0)
    expect(redirected.stdout).toContain("1 accepted (1 landed, 0 duplicates), 0 rejected")
    const dry = runCdp(["ingest", "--source", "segment", "-", "--dry-run"], { input: line("m4") })
    expect(dry.stdout).toContain("- (dry run, nothing landed): 1 would be accepted, 0 rejected")
    expect(count(data)).toBe('{"n":"3"}')
  }, 120_000)
})
