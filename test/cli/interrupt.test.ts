// Ctrl-C (SIGINT) or SIGTERM in the middle of a one-shot command is not a success: `cdp ingest` stopped partway
// exited 0 without a word, so `cdp ingest --source segment f.ndjson && rm f.ndjson` deleted a file only part of which
// had landed. Now it says in one line that it was stopped before the end, exits 128 + the signal's number, and the
// same command run again lands the rest; nothing that landed is lost.
import { spawn } from "node:child_process"
import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { CDP_BIN, REPO_ROOT, runCdp } from "../support/cli.ts"
import { landed } from "../support/landed.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const N = 60_000

/** `cdp ARGS`, sent `signal` once it holds the data dir and has had `afterMs` to work. */
const interrupted = (args: ReadonlyArray<string>, data: string, signal: NodeJS.Signals, afterMs: number) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [CDP_BIN, ...args], { cwd: REPO_ROOT })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => { stdout += d.toString() })
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString() })
    const held = setInterval(() => {
      if (!existsSync(join(data, "clickhouse", "cdp-owner.json"))) return
      clearInterval(held)
      setTimeout(() => child.kill(signal), afterMs)
    }, 50)
    child.once("error", reject)
    child.once("close", (code) => { clearInterval(held); resolve({ status: code, stdout, stderr }) })
  })

describe("a signal in the middle of cdp ingest", () => {
  it("is one line saying it stopped before the end, a non-zero exit, and the next run lands the rest", async () => {
    const file = join(dir, "big.ndjson")
    writeFileSync(file, Array.from({ length: N }, (_, i) =>
      JSON.stringify({ type: "track", event: "Viewed", userId: `u${i % 997}`, messageId: `m-${i}`, timestamp: "2026-03-02T08:00:00.000Z", properties: { i } })).join("\n") + "\n")
    const data = join(dir, "data")
    const args = ["ingest", "--source", "segment", file, "--data-dir", data]

    const stopped = await interrupted(args, data, "SIGINT", 1500)
    expect(stopped.stdout).not.toMatch(/accepted/) // it did not finish: no summary
    expect(stopped.status).toBe(130)
    const lines = stopped.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^cdp: stopped by SIGINT before .*big\.ndjson was read to its end/)
    expect(stopped.stderr).not.toMatch(/\n\s+at /)
    const before = Number((await landed<{ n: string }>(data, "SELECT count() AS n FROM events"))[0]!.n)
    expect(before).toBeLessThan(N)

    const again = runCdp(args)
    expect(again.stderr).toBe("")
    expect(again.status).toBe(0)
    const m = /(\d+) accepted \((\d+) landed, (\d+) duplicates\)/.exec(again.stdout)
    expect(m?.slice(1).map(Number)).toEqual([N, N - before, before])
    expect(await landed<{ n: string; ids: string }>(data, "SELECT count() AS n, uniqExact(message_id) AS ids FROM events"))
      .toEqual([{ n: String(N), ids: String(N) }])
  }, 120_000)

  it("SIGTERM too", async () => {
    const file = join(dir, "big.ndjson")
    writeFileSync(file, Array.from({ length: N }, (_, i) =>
      JSON.stringify({ type: "track", event: "Viewed", userId: `u${i % 997}`, messageId: `m-${i}` })).join("\n") + "\n")
    const data = join(dir, "data")
    const stopped = await interrupted(["ingest", "--source", "segment", file, "--data-dir", data], data, "SIGTERM", 500)
    expect(stopped.status).toBe(143)
    expect(stopped.stderr.trim()).toMatch(/^cdp: stopped by SIGTERM before [^\n]*$/)
  }, 120_000)
})

describe("a signal in the middle of cdp demo", () => {
  // Seen: "cdp: stopped by SIGINT before it finished (what it did until then stays)", which says neither what was kept
  // nor where.
  it("says plainly that what landed before it stays in the data dir, and that cdp demo again starts over", async () => {
    const data = join(dir, "demo")
    const stopped = await interrupted(["demo", "--data-dir", data], data, "SIGINT", 300)
    expect(stopped.status).toBe(130)
    const lines = stopped.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toBe(`cdp: stopped by SIGINT before the demo finished: what landed before the interrupt stays in ${data}; cdp demo --data-dir ${data} starts over (it wipes the dir it made)`)
    expect(existsSync(data)).toBe(true)
  }, 120_000)
})
