// One process per data dir, and the lock tells the truth: the holder is named, and a holder that is gone (killed,
// its pid reused by another program) never blocks.
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../support/cli.ts"
import { runCdpAsync } from "../support/cli-async.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let sleeper: ChildProcess | undefined
beforeEach(() => { dir = freshDir() })
afterEach(() => {
  sleeper?.kill("SIGKILL")
  sleeper = undefined
  removeDir(dir)
})

const ownerFile = (data: string) => join(data, "clickhouse", "cdp-owner.json")
const ingest = (data: string) => runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", data])

describe("the data dir lock", () => {
  it("an owner file naming a live process that is not cdp does not block opening the data dir", () => {
    const data = join(dir, "data")
    expect(ingest(data).status).toBe(0)
    // cdp was killed -9 and its pid now belongs to another program (here: this test's own `sleep`).
    sleeper = spawn("sleep", ["300"], { stdio: "ignore" })
    const pid = sleeper.pid!
    const records = [
      { pid, command: "cdp serve" },                                  // as written before start times were recorded
      { pid, command: "cdp serve", startTime: "1" },                  // the dead cdp's start time: not this process's
    ]
    for (const record of records) {
      writeFileSync(ownerFile(data), JSON.stringify(record))
      const r = ingest(data)
      expect(r.stderr).toBe("")
      expect(r.status).toBe(0)
      expect(r.stdout).toContain("1509 accepted (0 landed, 1509 duplicates)")
    }
  })

  it("after kill -9 of cdp serve, a new cdp serve opens the same data dir", async () => {
    const first = await startServe(["--data-dir", dir, "--write-key", "K"])
    expect(existsSync(ownerFile(dir))).toBe(true)
    first.child.kill("SIGKILL")
    await new Promise((r) => first.child.once("exit", r))
    const second = await startServe(["--data-dir", dir, "--write-key", "K"])
    expect(JSON.parse(readFileSync(ownerFile(dir), "utf8")).pid).toBe(second.child.pid)
    expect(await second.stop()).toBe(0)
  })

  it("cdp demo on a dir held by cdp serve names the holder and wipes nothing", async () => {
    const demo = join(dir, "demo")
    expect(runCdp(["demo", "--data-dir", demo]).status).toBe(0)
    const serve = await startServe(["--data-dir", demo, "--write-key", "K"])
    const r = runCdp(["demo", "--data-dir", demo])
    expect(r.status).toBe(1)
    expect(r.stderr).toBe(`cdp: data dir ${demo} is in use by \`cdp serve\` (pid ${serve.child.pid}); stop it (its data stays) or use another --data-dir (while cdp serve runs, cdp query goes through it and data can be sent to its HTTP API)\n`)
    expect(await serve.stop()).toBe(0)
    // Nothing was wiped: the demo's events are all still there.
    expect(runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", demo]).stdout)
      .toContain("1509 accepted (0 landed, 1509 duplicates)")
    // A dir that is neither the demo's nor in use is still refused as before.
    mkdirSync(join(dir, "precious"))
    writeFileSync(join(dir, "precious", "keep.txt"), "mine")
    expect(runCdp(["demo", "--data-dir", join(dir, "precious")]).stderr).toContain("was not made by cdp demo")
  })

  // Seen: three `cdp ingest` started at once on a new data dir; a loser printed chDB's own 'Code: 76. DB::Exception:
  // Cannot lock file .../clickhouse/status. Another server instance in same directory is already running.
  // (CANNOT_OPEN_FILE)' above cdp's line, which named no holder ('another cdp process'): the holder was recorded
  // only once its engine had opened, and the others had looked before that.
  it("commands started at once on one data dir: one runs, each other says in one line who holds it", async () => {
    for (let round = 0; round < 2; round++) {
      const data = join(dir, `data-${round}`)
      const results = await Promise.all([0, 1, 2].map(() => runCdpAsync(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", data])))
      expect(results.filter((r) => r.status === 0)).toHaveLength(1)
      for (const r of results.filter((x) => x.status !== 0)) {
        expect(r.status).toBe(1)
        expect(r.stderr).toMatch(/^cdp: data dir \S+ is in use by `cdp ingest` \(pid \d+\); [^\n]*\n$/)
      }
      expect(existsSync(ownerFile(data))).toBe(false)
    }
  })
})
