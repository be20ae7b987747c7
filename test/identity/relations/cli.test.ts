// `cdp relations compute|summary|explain` on files landed with `cdp ingest`, and the relational columns of `profiles`.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../../support/cli.ts"
import { removeDir } from "../../support/pipeline.ts"
import { ingestedDataDir } from "../../support/seeded-dir.ts"

let dir: string
let data: string
const day = (d: number, h = 10) => new Date(Date.UTC(2024, 9, d, h)).toISOString()

/** Ann buys every week of October; Bob came twice in early October and never again. */
const messages = [
  ...[1, 8, 15, 22, 29].flatMap((d) => [
    { type: "page", name: "Home", messageId: `ann-page-${d}`, userId: "ann", timestamp: day(d) },
    { type: "track", event: "Order Completed", messageId: `ann-order-${d}`, userId: "ann", timestamp: day(d, 11), properties: { total: 30 } },
  ]),
  { type: "identify", messageId: "ann-id", userId: "ann", timestamp: day(1, 9), traits: { email: "ann@x.example" } },
  { type: "page", name: "Home", messageId: "bob-1", userId: "bob", timestamp: day(2) },
  { type: "track", event: "Order Completed", messageId: "bob-2", userId: "bob", timestamp: day(3), properties: { revenue: 12 } },
]

const cdp = (args: ReadonlyArray<string>) => runCdp([...args, "--data-dir", data])

beforeAll(() => {
  ({ dir, data } = ingestedDataDir(messages))
}, 60_000)
afterAll(() => removeDir(dir))

const jsonLines = (text: string) => text.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>)

describe("cdp relations", () => {
  it("compute brings every profile to the date, and profiles then shows relationship_type and churn_risk", () => {
    const r = cdp(["relations", "compute", "--as-of", "2024-11-30", "--format", "json"])
    expect(r.stderr).toBe("")
    expect(JSON.parse(r.stdout)).toMatchObject({ tenant: "default", asOf: "2024-11-30", profiles: 2 })
    const q = cdp(["query", "SELECT profile_id, relationship_type, churn_risk, health_score, relationship_as_of FROM profiles ORDER BY churn_risk"])
    expect(q.stderr).toBe("")
    const rows = jsonLines(q.stdout)
    expect(rows).toHaveLength(2)
    expect(rows.map((x) => x["relationship_as_of"])).toEqual(["2024-11-30", "2024-11-30"])
    expect(Number(rows[0]!["churn_risk"])).toBeLessThan(Number(rows[1]!["churn_risk"]))
  })

  it("explain prints the evidence of a profile found by any identifier", () => {
    cdp(["relations", "compute", "--as-of", "2024-10-31"])
    const r = cdp(["relations", "explain", "ann@x.example", "--format", "json"])
    expect(r.stderr).toBe("")
    const e = JSON.parse(r.stdout) as { relationshipType: string; asOf: string; factors: Array<string>; signals: Record<string, unknown> }
    expect(e).toMatchObject({ relationshipType: "loyal_quiet", asOf: "2024-10-31" })
    expect(e.factors).toContain("5 orders, 150 spent, the last 2 days ago")
    expect(e.signals).toMatchObject({ orders: 5, visitDays: 5 })
    const table = cdp(["relations", "explain", "user_id:ann"])
    expect(table.stdout).toMatch(/Relationship of profile prof_\S+ as of 2024-10-31: loyal_quiet, health \d+\/100, churn risk 0\.\d\d/)
  })

  it("profile show lists the relationship among the traits, stated by relations as of the computed date", () => {
    cdp(["relations", "compute", "--as-of", "2024-10-31"])
    const r = cdp(["profile", "show", "ann@x.example", "--format", "json"])
    expect(r.stderr).toBe("")
    const traits = (JSON.parse(r.stdout) as { traits: Record<string, { value: unknown; source: string; at: string }> }).traits
    expect(traits["relationship_type"]).toEqual({ value: "loyal_quiet", source: "relations", at: "2024-10-31" })
    expect(Number(traits["churn_risk"]!.value)).toBeGreaterThan(0)
    expect(traits["relationship_factors"]!.value).toContain("5 orders, 150 spent, the last 2 days ago")
  })

  it("summary shows the distribution at two dates and who changed type", () => {
    const r = cdp(["relations", "summary", "--from", "2024-10-10", "--to", "2024-11-30", "--format", "json"])
    expect(r.stderr).toBe("")
    const s = JSON.parse(r.stdout) as { distribution: Array<{ type: string; from: number; to: number }>; changed: Array<{ from: string; to: string }> }
    expect(s.distribution.find((d) => d.type === "new")).toMatchObject({ from: 2 })
    expect(s.changed.length).toBe(2)
    expect(s.changed.every((c) => c.from === "new")).toBe(true)
  })

  it("a wrong date or an unknown identifier is named on stderr with exit 1, no stack trace", () => {
    const bad = cdp(["relations", "compute", "--as-of", "2024-02-30"])
    expect(bad.status).toBe(1)
    expect(bad.stderr).not.toMatch(/\n\s+at /)
    expect(bad.stderr).toMatch(/--as-of .*2024-02-30 is not a day on the calendar/)
    const unknown = cdp(["relations", "explain", "nobody@x.example"])
    expect(unknown.status).toBe(1)
    expect(unknown.stderr).toMatch(/^cdp: no profile of tenant "default" holds/)
  })

  it("while cdp serve holds the data dir, compute, summary, report and explain go through its API with the same answers", async () => {
    const direct = JSON.parse(cdp(["relations", "explain", "ann@x.example", "--format", "json"]).stdout) as Record<string, unknown>
    const serve = await startServe(["--data-dir", data])
    try {
      const computed = cdp(["relations", "compute", "--as-of", "2024-11-20", "--format", "json"])
      expect(computed.stderr).toBe("")
      expect(JSON.parse(computed.stdout)).toMatchObject({ tenant: "default", asOf: "2024-11-20", profiles: 2 })
      const explained = cdp(["relations", "explain", "ann@x.example", "--as-of", direct["asOf"] as string, "--format", "json"])
      expect(explained.stderr).toBe("")
      expect(JSON.parse(explained.stdout)).toEqual(direct)
      const summary = cdp(["relations", "summary", "--from", direct["asOf"] as string, "--to", "2024-11-20", "--format", "json"])
      expect(summary.stderr).toBe("")
      expect(JSON.parse(summary.stdout)).toMatchObject({ from: direct["asOf"], to: "2024-11-20" })
      const report = cdp(["relations", "report", "--from", "2024-11-01", "--to", "2024-11-30", "--format", "json"])
      expect(JSON.parse(report.stdout).periods.some((p: { asOf: string | null }) => p.asOf === "2024-11-20")).toBe(true)
      const missing = cdp(["relations", "report", "--compute-missing"])
      expect(missing.status).toBe(1)
      expect(missing.stderr).toMatch(/^cdp: computeMissing: a report over the API shows stored runs only/)
      const unknown = cdp(["relations", "explain", "nobody@x.example"])
      expect(unknown.status).toBe(1)
      expect(unknown.stderr).toMatch(/^cdp: no profile of tenant "default" holds/)
    } finally {
      await serve.stop()
    }
  }, 120_000)
})
