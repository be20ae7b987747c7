// A date given to a flag must be a day on the calendar: 2024-02-30 is refused in one line, never read as 1 March
// (Date.parse rolls a day up to the 31st over into the next month), and nothing is made or changed.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("dates that are not on the calendar", () => {
  it("are refused by every flag that takes a time, naming the date, before the data dir is touched", () => {
    const data = join(dir, "data")
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["dlq", "list", "--since", "2024-02-30"], "2024-02-30"],
      [["dlq", "retry", "--since", "2024-04-31"], "2024-04-31"],
      [["replay", "--from", "2024-02-30", "--to", "2024-03-05"], "2024-02-30"],
      [["replay", "--from", "2024-02-01", "--to", "2024-02-31T10:00:00Z"], "2024-02-31"],
      [["sentiment", "rescore", "--since", "2023-02-29"], "2023-02-29"],
      [["listen", "report", "--since", "2024-02-30"], "2024-02-30"],
      [["listen", "report", "--until", "2024-06-31"], "2024-06-31"],
      [["profile", "events", "user_id:u1", "--since", "2024-02-30T00:00:00Z"], "2024-02-30"],
      [["profile", "events", "user_id:u1", "--until", "2024-11-31"], "2024-11-31"],
      [["token", "create", "--role", "admin", "--expires", "2027-02-30"], "2027-02-30"],
      [["audit", "log", "--since", "2024-09-31"], "2024-09-31"],
      [["audit", "log", "--until", "2024-02-30T12:00:00Z"], "2024-02-30"],
    ]
    for (const [args, date] of cases) {
      const r = runCdp([...args, "--data-dir", data])
      expectOneLineError(r, `${date} is not a day on the calendar`)
    }
    expect(existsSync(data)).toBe(false)
  })

  it("a day that is on the calendar (29 February of a leap year) is taken as given", () => {
    const data = join(dir, "data")
    const r = runCdp(["token", "create", "--role", "admin", "--expires", "2028-02-29", "--format", "json", "--data-dir", data])
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    const details = JSON.parse(r.stdout.split("\n").slice(1).join("\n")) as { expiresAt: string }
    expect(details.expiresAt).toBe("2028-02-29T00:00:00.000Z")
  })
})
