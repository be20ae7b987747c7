// A count flag given a number too large for a JavaScript number to hold exactly (past 2^53) is refused naming the
// flag: `cdp dlq list --limit 99999999999999999999` answered 'cdp: Refusing to serialize unsafe integer
// 100000000000000000000 (beyond ±2^53): pass a bigint or string to preserve precision', the warehouse client's words
// naming neither the flag nor what it takes, and the other --limit flags passed it on as 1e+20.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { allLimited, runCdpAsync } from "../support/cli-async.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const HUGE = "99999999999999999999"

describe("a count flag past what a number holds exactly", () => {
  it("is one line naming the flag, before the data dir is touched", async () => {
    const data = join(dir, "data")
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["dlq", "list", "--limit", HUGE], "--limit"],
      [["dlq", "retry", "--limit", HUGE], "--limit"],
      [["identity", "suggestions", "--limit", HUGE], "--limit"],
      [["export", "history", "crm", "--limit", HUGE], "--limit"],
      [["export", "dry-run", "crm", "--limit", HUGE], "--limit"],
      [["relations", "summary", "--limit", HUGE], "--limit"],
      [["sentiment", "evaluate", "texts.txt", "--ratings", "--scale", HUGE], "--scale"],
    ]
    const results = await allLimited(cases.map(([args]) => () => runCdpAsync([...args, "--data-dir", data])))
    results.forEach((r, i) => {
      expectOneLineError(r, cases[i]![1])
      expect(r.stderr).toMatch(/at most 9007199254740991|from 0 to 9007199254740991|from 1 to 10000\b/)
    })
    expect(existsSync(data)).toBe(false)
  })

  // Seen: `cdp dlq retry --limit 20000` while cdp serve held the data dir answered the route's words ('cdp: limit:
  // limit must be <= 10000 (got 20000); the body must be JSON {"source"?: ...}'), and without it ran over 20,000.
  it("dlq's --limit takes on the data dir what cdp serve's dead-letter route takes, 1 to 10000, and names the flag", async () => {
    const data = join(dir, "data")
    const results = await allLimited([["list"], ["retry"]].map((cmd) => () => runCdpAsync(["dlq", ...cmd, "--limit", "10001", "--data-dir", data])))
    for (const r of results) expectOneLineError(r, "--limit")
    for (const r of results) expect(r.stderr).toContain("from 1 to 10000")
    expect(existsSync(data)).toBe(false)
  })
})
