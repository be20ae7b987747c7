// `cdp listen report` over a period that ends before it starts (dates given the wrong way round) is one line, exit 1:
// it used to print an empty report for a one-day window at --since, as if nothing had been said in the period.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let data: string
beforeAll(() => {
  dir = freshDir()
  data = join(dir, "data")
  const post = { id: "p1", network: "forum", author_handle: "ann", text: "love the new roast", created_at: "2024-09-05T10:00:00Z" }
  writeFileSync(join(dir, "posts.ndjson"), `${JSON.stringify(post)}\n`)
  const r = runCdp(["ingest", "--source", "social", join(dir, "posts.ndjson"), "--data-dir", data])
  expect(r.status, r.stderr).toBe(0)
}, 120_000)
afterAll(() => removeDir(dir))

describe("cdp listen report's period", () => {
  it("refuses --until at or before --since in one line naming both", () => {
    const report = (...args: Array<string>) => runCdp(["listen", "report", ...args, "--no-alerts", "--data-dir", data])
    expectOneLineError(report("--since", "2024-09-10", "--until", "2024-09-01"), "--until (2024-09-01) must be after --since (2024-09-10)")
    expectOneLineError(report("--since", "2024-09-10T12:00:00Z", "--until", "2024-09-10T12:00:00Z"), "--until (2024-09-10T12:00:00Z) must be after --since")
  })

  it("refuses a --since in the future in one line naming it (its report was empty, as if nothing had been said)", () => {
    const r = runCdp(["listen", "report", "--since", "2099-01-01", "--no-alerts", "--data-dir", data])
    expectOneLineError(r, "--since")
    expect(r.stderr).toContain('"2099-01-01" is in the future')
    expect(r.stdout).toBe("")
    // A period longer than a report covers (one row a day: 1900 to now was 46,000 rows).
    expectOneLineError(runCdp(["listen", "report", "--since", "1900-01-01", "--no-alerts", "--data-dir", data]), "--since: the period is")
  })

  it("takes a one-day period (--until the same date as --since: that whole day)", () => {
    const r = runCdp(["listen", "report", "--since", "2024-09-05", "--until", "2024-09-05", "--format", "json", "--no-alerts", "--data-dir", data])
    expect(r.stderr).toBe("")
    expect(JSON.parse(r.stdout)).toMatchObject({ since: "2024-09-05T00:00:00.000Z", mentions: { total: 1 } })
  })
})
