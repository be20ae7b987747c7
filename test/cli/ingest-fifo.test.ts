// `cdp ingest` of a named pipe (mkfifo, or a shell's <(...)): it waits for a writer and reads what comes, as `cat`
// would, and a signal while it waits stops it at once with one line. Before, the pipe was opened in Node's thread pool
// (a blocking open that waits for a writer), twice: with no writer, SIGTERM printed its line but the process never
// exited (exit waits for that thread) and needed kill -9; with a writer, the first open took the data and the second
// waited forever.
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { CDP_BIN, REPO_ROOT } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const fifo = () => {
  const path = join(dir, "in.ndjson")
  execFileSync("mkfifo", [path])
  return path
}

const started = (args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, [CDP_BIN, ...args], { cwd: REPO_ROOT })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (d: Buffer) => { stdout += d.toString() })
  child.stderr!.on("data", (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (status, signal) => resolve({ status, signal })))
  return { child, exited, out: () => ({ stdout, stderr }) }
}

/** Whether `child` holds `path` open (its descriptors, as /proc shows them). */
const holds = (child: ChildProcess, path: string): boolean => {
  try {
    return readdirSync(`/proc/${child.pid}/fd`).some((fd) => {
      try { return readlinkSync(`/proc/${child.pid}/fd/${fd}`) === path } catch { return false }
    })
  } catch {
    return false
  }
}

/** Whether a thread of `child` is blocked opening a pipe that has no writer (the kernel's wait_for_partner). */
const blockedOpening = (child: ChildProcess): boolean => {
  try {
    return readdirSync(`/proc/${child.pid}/task`).some((tid) => {
      try { return readFileSync(`/proc/${child.pid}/task/${tid}/wchan`, "utf8") === "wait_for_partner" } catch { return false }
    })
  } catch {
    return false
  }
}

/**
 * Resolves once `child` waits for the pipe's writer, holding `path` open (cdp opens a pipe without waiting) or blocked
 * opening it (as before), or once it has exited: its start-up (a fresh data dir's migrations) takes seconds quiet and
 * far more at CI's load, so no time is guessed.
 */
const waitingOn = async (child: ChildProcess, path: string) => {
  while (child.exitCode === null && child.signalCode === null && !holds(child, path) && !blockedOpening(child)) {
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The exit, or "still running" (and a SIGKILL) when it has not come within `ms`. */
const exitWithin = async (run: ReturnType<typeof started>, ms: number) => {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<"still running">((resolve) => { timer = setTimeout(() => resolve("still running"), ms) })
  const first = await Promise.race([run.exited, late])
  clearTimeout(timer)
  if (first === "still running") run.child.kill("SIGKILL")
  return first
}

describe("cdp ingest of a named pipe", () => {
  for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
    it(`waiting for a writer, it stops on ${signal} within seconds with one line and exit ${code}`, async () => {
      const path = fifo()
      const run = started(["ingest", "--source", "segment", path, "--data-dir", join(dir, "data")])
      await waitingOn(run.child, path)
      run.child.kill(signal)
      // Before, it never exited (its exit waited for a thread blocked opening the pipe): ended by SIGKILL here. Its own
      // exit (closing the warehouse) can take seconds at CI's load, so the wait is long and not the check.
      const exit = await exitWithin(run, 60_000)
      expect(exit).toEqual({ status: code, signal: null })
      const lines = run.out().stderr.trim().split("\n")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(new RegExp(`^cdp: stopped by ${signal} before .*in\\.ndjson`))
      expect(run.out().stdout).toBe("")
    }, 180_000)
  }

  it("what a writer sends through the pipe lands, and the summary names the pipe", async () => {
    const path = fifo()
    const source = join(dir, "msgs.ndjson")
    writeFileSync(source, ["m-1", "m-2"].map((id) =>
      JSON.stringify({ type: "track", event: "Viewed", userId: "u1", messageId: id, timestamp: "2026-03-02T08:00:00.000Z" })).join("\n") + "\n")
    const run = started(["ingest", "--source", "segment", path, "--data-dir", join(dir, "data")])
    // The writer waits for the reader to open the pipe (a blocking open, in its own process).
    const writer = spawn("sh", ["-c", 'cat "$1" > "$2"', "sh", source, path])
    const exit = await exitWithin(run, 60_000)
    writer.kill("SIGKILL")
    expect(run.out().stderr).toBe("")
    expect(exit).toEqual({ status: 0, signal: null })
    expect(run.out().stdout).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: 2 accepted \\(2 landed, 0 duplicates\\)`))
  }, 90_000)
})
