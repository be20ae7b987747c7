// `cdp relations report` and the listening report's relationships section, on a small sample landed with `cdp ingest`
// and computed at three dates.
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { periodsBetween } from "../../../identity/relations/index.ts"
import { runCdp } from "../../support/cli.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"

let dir: string
let data: string
const at = (month: number, d: number, h = 10) => new Date(Date.UTC(2024, month - 1, d, h)).toISOString()

/**
 * Ann visits and buys twice a week from 17 September to 4 October, then stops; Bob comes twice in early October and
 * never again; Cat first comes on 20 November. As of 6 October both Ann and Bob are new; as of 31 October Ann (away
 * 27 days, a break) is loyal_quiet and Bob distant; as of 30 November Ann (engaged, gone 57 days) is at_risk, Bob still
 * distant and Cat new.
 */
const messages = [
  ...[[9, 17], [9, 20], [9, 24], [9, 27], [10, 1], [10, 4]].flatMap(([m, d]) => [
    { type: "page", name: "Home", messageId: `ann-page-${m}-${d}`, userId: "ann", timestamp: at(m!, d!) },
    { type: "track", event: "Order Completed", messageId: `ann-order-${m}-${d}`, userId: "ann", timestamp: at(m!, d!, 11), properties: { total: 30 } },
  ]),
  { type: "page", name: "Home", messageId: "bob-1", userId: "bob", timestamp: at(10, 2) },
  { type: "track", event: "Order Completed", messageId: "bob-2", userId: "bob", timestamp: at(10, 3), properties: { revenue: 12 } },
  { type: "page", name: "Home", messageId: "cat-1", userId: "cat", timestamp: at(11, 20) },
]

const cdp = (args: ReadonlyArray<string>) => runCdp([...args, "--data-dir", data])

interface Period {
  start: string
  end: string
  source: string
  asOf: string | null
  profiles: number
  byType: Record<string, number>
  since: string | null
  movements: Array<{ from: string; to: string; profiles: number }>
}
interface Series { periods: Array<Period>; movements: Array<{ from: string; to: string; profiles: number }>; message?: string }

const series = (args: ReadonlyArray<string>): Series => {
  const r = cdp(["relations", "report", ...args, "--format", "json"])
  expect(r.stderr).toBe("")
  expect(r.status).toBe(0)
  return JSON.parse(r.stdout) as Series
}
const nonZero = (byType: Record<string, number>) => Object.fromEntries(Object.entries(byType).filter(([, n]) => n > 0))

beforeAll(() => {
  dir = freshDir()
  data = join(dir, "data")
  writeFileSync(join(dir, "web.ndjson"), messages.map((m) => JSON.stringify(m)).join("\n"))
  expect(cdp(["ingest", "--source", "segment", join(dir, "web.ndjson")]).stderr).toBe("")
  for (const asOf of ["2024-10-06", "2024-10-31", "2024-11-30"]) {
    expect(cdp(["relations", "compute", "--as-of", asOf]).status).toBe(0)
  }
}, 120_000)
afterAll(() => removeDir(dir))

describe("relation series", () => {
  it("weeks run Monday to Sunday and months are calendar months, cut to the range", () => {
    expect(Effect.runSync(periodsBetween("2024-10-02", "2024-10-15", "week"))).toEqual([
      { start: "2024-10-02", end: "2024-10-06" }, { start: "2024-10-07", end: "2024-10-13" }, { start: "2024-10-14", end: "2024-10-15" },
    ])
    expect(Effect.runSync(periodsBetween("2024-01-15", "2024-03-01", "month")).map((p) => p.end)).toEqual(["2024-01-31", "2024-02-29", "2024-03-01"])
    expect(Effect.runSync(periodsBetween("2024-10-30", "2024-11-01", "day")).map((p) => p.end)).toEqual(["2024-10-30", "2024-10-31", "2024-11-01"])
  })

  it("each week shows the distribution of the run stored in it and the movements since the last week with scores", () => {
    const s = series(["--from", "2024-09-30", "--to", "2024-12-01"])
    expect(s.periods.map((p) => `${p.end}:${p.source}`)).toEqual([
      "2024-10-06:stored", "2024-10-13:missing", "2024-10-20:missing", "2024-10-27:missing", "2024-11-03:stored",
      "2024-11-10:missing", "2024-11-17:missing", "2024-11-24:missing", "2024-12-01:stored",
    ])
    const [first, , , , second, , , , third] = s.periods as [Period, Period, Period, Period, Period, Period, Period, Period, Period]
    expect(first).toMatchObject({ asOf: "2024-10-06", profiles: 2, since: null, movements: [] })
    expect(nonZero(first.byType)).toEqual({ new: 2 })
    expect(second).toMatchObject({ asOf: "2024-10-31", profiles: 2, since: "2024-10-06" })
    expect(nonZero(second.byType)).toEqual({ loyal_quiet: 1, distant: 1 })
    expect(second.movements).toEqual([{ from: "new", to: "distant", profiles: 1 }, { from: "new", to: "loyal_quiet", profiles: 1 }])
    expect(third).toMatchObject({ asOf: "2024-11-30", profiles: 3, since: "2024-10-31" })
    expect(nonZero(third.byType)).toEqual({ at_risk: 1, distant: 1, new: 1 })
    expect(third.movements).toEqual([{ from: "loyal_quiet", to: "at_risk", profiles: 1 }, { from: "none", to: "new", profiles: 1 }])
    expect(s.movements).toHaveLength(4)
    expect(s.movements.every((m) => m.profiles === 1)).toBe(true)
  })

  it("--compute-missing computes a period without a stored run as of its last day, and the baseline before --from", () => {
    const s = series(["--from", "2024-10-01", "--to", "2024-11-30", "--every", "month", "--compute-missing"])
    expect(s.periods.map((p) => [p.end, p.source, p.asOf])).toEqual([["2024-10-31", "stored", "2024-10-31"], ["2024-11-30", "stored", "2024-11-30"]])
    // As of 30 September (computed: the baseline) only Ann was active, new; Bob arrives from "none".
    expect(s.periods[0]).toMatchObject({ since: "2024-09-30", movements: [{ from: "new", to: "loyal_quiet", profiles: 1 }, { from: "none", to: "distant", profiles: 1 }] })
    // Without --compute-missing, the first period counts from the last run stored before --from.
    const november = series(["--from", "2024-11-01", "--to", "2024-11-30", "--every", "month"])
    expect(november.periods[0]).toMatchObject({ since: "2024-10-31", movements: [{ from: "loyal_quiet", to: "at_risk", profiles: 1 }, { from: "none", to: "new", profiles: 1 }] })
    const weekly = series(["--from", "2024-10-07", "--to", "2024-10-13", "--compute-missing"])
    expect(weekly.periods).toHaveLength(1)
    // Ann, first seen 26 days before, is no longer new.
    expect(weekly.periods[0]).toMatchObject({ source: "computed", asOf: "2024-10-13", profiles: 2, since: "2024-10-06",
      movements: [{ from: "new", to: "loyal_quiet", profiles: 1 }] })
    expect(nonZero(weekly.periods[0]!.byType)).toEqual({ loyal_quiet: 1, new: 1 })
  })

  it("the table shows one row per period and the top movements", () => {
    const r = cdp(["relations", "report", "--from", "2024-10-28", "--to", "2024-12-01"])
    expect(r.stderr).toBe("")
    expect(r.stdout).toMatch(/^Relationships of tenant default, every week: 2024-10-28 to 2024-12-01/)
    expect(r.stdout).toMatch(/2024-12-01\s+│?\s*2024-11-30/)
    expect(r.stdout).toMatch(/loyal_quiet\s+│?\s*at_risk\s+│?\s*1/)
  })

  it("the HTML listening report has a relationships section with each week's counts and the top movements", () => {
    const out = join(dir, "report.html")
    const r = cdp(["listen", "report", "--since", "2024-10-28", "--until", "2024-11-30", "--format", "html", "--out", out, "--no-alerts"])
    expect(r.stderr).toBe("")
    const html = readFileSync(out, "utf8")
    expect(html).toContain(`<section class="relationships">`)
    const row = (end: string) => new RegExp(`<tr class="rel-row" data-end="${end}">.*?</tr>`).exec(html)?.[0] ?? ""
    const cell = (end: string, type: string) => new RegExp(`data-type="${type}">([^<]*)<`).exec(row(end))?.[1]
    expect(cell("2024-11-03", "loyal_quiet")).toBe("1")
    expect(cell("2024-11-03", "distant")).toBe("1")
    expect(cell("2024-11-30", "at_risk")).toBe("1")
    expect(cell("2024-11-30", "new")).toBe("1")
    expect(cell("2024-11-30", "loyal_quiet")).toBe("0")
    expect(row("2024-11-10")).toContain("no scores")
    expect(html).toMatch(/<g class="rel-period" data-end="2024-11-30" data-profiles="3" data-source="stored">/)
    expect(html).toMatch(/<tr class="rel-movement" data-from="loyal_quiet" data-to="at_risk">.*?<td class="n">1<\/td><\/tr>/)
    // The existing sections are still there, in their order.
    expect(html.indexOf("<h2>Volume and sentiment per day</h2>")).toBeGreaterThan(0)
    expect(html.indexOf("<h2>Top authors</h2>")).toBeLessThan(html.indexOf(`<section class="relationships">`))
    const json = JSON.parse(cdp(["listen", "report", "--since", "2024-10-28", "--until", "2024-11-30", "--format", "json", "--no-alerts"]).stdout) as { relationships: Series }
    expect(json.relationships.periods.at(-1)).toMatchObject({ end: "2024-11-30", asOf: "2024-11-30", profiles: 3 })
  })

  it("a tenant without scores gets a clear message, and its listening report no relationships section", () => {
    const s = series(["--tenant", "nobody", "--from", "2024-10-01", "--to", "2024-10-31"])
    expect(s.message).toBe(`no relationship scores stored for tenant "nobody" from 2024-10-01 to 2024-10-31: run cdp relations compute --as-of DATE, or pass --compute-missing`)
    const table = cdp(["relations", "report", "--tenant", "nobody", "--from", "2024-10-01", "--to", "2024-10-31"])
    expect(table.status).toBe(0)
    expect(table.stdout).toContain("no relationship scores stored for tenant \"nobody\"")
    const html = cdp(["listen", "report", "--tenant", "nobody", "--since", "2024-10-01", "--until", "2024-10-31", "--format", "html", "--out", join(dir, "empty.html"), "--no-alerts"])
    expect(html.stderr).toBe("")
    const page = readFileSync(join(dir, "empty.html"), "utf8")
    expect(page).toContain("<h2>Volume and sentiment per day</h2>")
    expect(page).not.toContain("relationships")
  })

  it("a bad --every, a bad date, --from after --to or too many periods is one line naming the flag, exit 1", () => {
    for (const [args, flag] of [
      [["--every", "fortnight"], /--every/],
      [["--from", "2024-13-01"], /--from/],
      [["--to", "yesterday"], /--to/],
      [["--from", "2024-11-01", "--to", "2024-10-01"], /from 2024-11-01 is after to 2024-10-01/],
      [["--from", "2020-01-01", "--to", "2024-10-01", "--every", "day"], /every day gives more than 400 periods/],
    ] as const) {
      const r = cdp(["relations", "report", ...args])
      expect(r.status).toBe(1)
      // The one line naming the flag (commander's own errors add the usual pointer to --help), no stack trace.
      const [line, ...rest] = r.stderr.trim().split("\n")
      expect(line).toMatch(flag)
      expect(rest.filter((l) => l !== "(run cdp --help for usage)")).toEqual([])
    }
  })
})
