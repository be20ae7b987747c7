// `cdp profile events` refuses a bad flag in one line naming the flag as it is typed (--limit), not the HTTP query
// parameter the same check names for GET /v1/profiles/{identifier}/events (limit). Seen: `cdp profile events user_id:u1
// --limit 0` answered "cdp: limit: must be a whole number from 1 to 1000". The flags are checked before the data dir
// is opened, so none is made here.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { allLimited, runCdpAsync } from "../support/cli-async.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("cdp profile events' flags", () => {
  it("a bad one is one line naming the flag with its dashes, before the data dir is touched", async () => {
    const data = join(dir, "data")
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["--limit", "0"], "cdp: --limit: must be a whole number from 1 to 1000"],
      [["--cursor", "zzz"], "cdp: --cursor: "],
      [["--channel", "Web!"], "cdp: --channel: "],
      [["--channel", "web,calls"], 'cdp: --channel: "calls" is not a channel: one of web, email, chat, call, social'],
      [["--event", ""], "cdp: --event: "],
      [["--since", "2024-10-02", "--until", "2024-10-01"], "cdp: --until: 2024-10-01 must be after since (2024-10-02)"],
    ]
    const results = await allLimited(cases.map(([flags]) => () => runCdpAsync(["profile", "events", "user_id:u1", ...flags, "--data-dir", data])))
    results.forEach((r, i) => expectOneLineError(r, cases[i]![1]))
    expect(existsSync(data)).toBe(false)
  }, 120_000)
})
