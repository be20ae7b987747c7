// Ctrl-C (or SIGTERM) in the first half second of `cdp`, while it loads its modules and before a command installs its
// own handling (cli/run.ts), is one line saying it stopped and an exit of 128 + the signal's number, as later. Seen
// before: `cdp query "SELECT 1"` sent SIGINT 0.1-0.6 s after it started printed nothing and was ended by the signal
// (Node's default; the shell's $? 130); 1.0 s after, it said "cdp: stopped by SIGINT before it finished ...".
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Readable } from "node:stream"
import { fileURLToPath } from "node:url"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { CDP_BIN, REPO_ROOT } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ANNOUNCE = fileURLToPath(new URL("../support/announce-main.ts", import.meta.url))

/**
 * `cdp ARGS`, sent `signal` as soon as bin/cdp.js starts importing cli/main.ts (test/support/announce-main.ts says so on
 * fd 3): the entry's first lines have run, and the command's modules are not loaded yet.
 */
const interruptedWhileLoading = (args: ReadonlyArray<string>, signal: NodeJS.Signals) =>
  new Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string; sent: boolean }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", ANNOUNCE, CDP_BIN, ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe", "pipe"] })
    let stderr = ""
    let sent = false
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString() })
    child.stdout!.resume()
    ;(child.stdio[3] as Readable).on("data", () => {
      if (sent) return
      sent = true
      child.kill(signal)
    })
    child.once("error", reject)
    child.once("close", (status, exitSignal) => resolve({ status, signal: exitSignal, stderr, sent }))
  })

describe("a signal while cdp loads its modules", () => {
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(`${signal} is one line saying it stopped, exit ${code}`, async () => {
      const file = join(dir, "in.ndjson")
      writeFileSync(file, JSON.stringify({ type: "track", event: "Viewed", userId: "u1", messageId: "m-1", timestamp: "2026-03-02T08:00:00.000Z" }) + "\n")
      const r = await interruptedWhileLoading(["ingest", "--source", "segment", file, "--data-dir", join(dir, "data")], signal)
      expect(r.sent).toBe(true)
      expect({ status: r.status, signal: r.signal }).toEqual({ status: code, signal: null })
      const lines = r.stderr.trim().split("\n")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(new RegExp(`^cdp: stopped by ${signal} before `))
    }, 60_000)
  }
})
