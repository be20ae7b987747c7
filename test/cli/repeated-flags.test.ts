// A flag that takes one value, given twice, is one line naming it, exit 1, and nothing runs: commander kept the last
// silently, so `cdp dsr submit --type erasure --email a@x --email b@x` erased b@x alone and said "completed", and
// `cdp token create --role admin --role collector` made a token of one of the two roles without a word.
// Flags documented as repeatable (--set, --channel, --event, --write-key, --allowed-origins) still collect.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a one-value flag given twice", () => {
  it("is refused naming the flag, before anything is made", () => {
    const data = join(dir, "data")
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["dsr", "submit", "--type", "erasure", "--email", "a@x.example", "--email", "b@x.example"], "--email"],
      [["dsr", "submit", "--type", "erasure", "--type", "access", "--email", "a@x.example"], "--type"],
      [["token", "create", "--role", "admin", "--role", "collector"], "--role"],
      [["token", "create", "--role", "marketer", "--tenant", "acme", "--tenant", "globex"], "--tenant"],
      [["query", "SELECT 1", "--tenant", "acme", "--tenant", "default"], "--tenant"],
      [["query", "SELECT 1", "--format", "json", "--format", "table"], "--format"],
      [["ingest", "--source", "segment", "--source", "calls", "x.ndjson"], "--source"],
      [["query", "SELECT 1", "--data-dir", join(dir, "other")], "--data-dir"],
    ]
    for (const [args, flag] of cases) expectOneLineError(runCdp([...args, "--data-dir", data]), `${flag} is given twice`)
    expect(existsSync(data)).toBe(false)
    expect(existsSync(join(dir, "other"))).toBe(false)
  })

  it("a repeatable flag still takes every value", () => {
    const data = join(dir, "data")
    const r = runCdp(["dsr", "submit", "--type", "rectification", "--email", "a@x.example", "--set", "name=Ann", "--set", "city=Leeds", "--format", "json", "--data-dir", data])
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    expect(r.stdout.split("\n")[0]).toMatch(/^dsr_/)
  })
})
