// The cdp process starts libuv's thread pool (which runs each embedded-engine statement to its end, and every file
// operation) with 16 threads unless the user set UV_THREADPOOL_SIZE: bin/cdp.js sets it before anything uses the pool.
// Counted as the pool's threads ("libuv-worker") of a running `cdp serve`, in /proc.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startServe } from "../support/cli.ts"

let dir: string
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "cdp-threadpool-")) })
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The thread pool's threads of `cdp serve` started with UV_THREADPOOL_SIZE = `value` (undefined: not set). */
const poolThreadsOfServe = async (value: string | undefined) => {
  const before = process.env.UV_THREADPOOL_SIZE
  if (value === undefined) delete process.env.UV_THREADPOOL_SIZE
  else process.env.UV_THREADPOOL_SIZE = value
  // This process's own pool started long ago; the variable only reaches the child.
  const serve = await startServe(["--data-dir", join(dir, "data")]).finally(() => {
    if (before === undefined) delete process.env.UV_THREADPOOL_SIZE
    else process.env.UV_THREADPOOL_SIZE = before
  })
  try {
    const tasks = `/proc/${serve.child.pid}/task`
    return readdirSync(tasks).filter((t) => {
      try { return readFileSync(join(tasks, t, "comm"), "utf8").trim() === "libuv-worker" } catch { return false }
    }).length
  } finally {
    await serve.stop()
  }
}

describe.runIf(existsSync("/proc/self/task"))("the cdp process's thread pool", () => {
  it("has 16 threads when the user set none (or set it empty)", { timeout: 120_000 }, async () => {
    expect(await poolThreadsOfServe(undefined)).toBe(16)
    expect(await poolThreadsOfServe("")).toBe(16)
  })

  it("has the size the user set", { timeout: 120_000 }, async () => {
    expect(await poolThreadsOfServe("6")).toBe(6)
  })
})
