// The listening report's relationships section (cli/relations.ts withRelationships) over any period the report takes.
// Seen probing cdp serve as a marketer, on a tenant with relationship scores: GET /v1/listening/report?since=30d&
// until=2099-01-01 (the open end the README names) and ?since=2016-12-08 (within the 10 years a report covers) answered
// 500 listening_failed, "every week gives more than 400 periods from 2026-12-01 to 2099-01-01": the section asked the
// relationship series for a week per period up to the report's until, and the series refuses more than 400.
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { withRelationships } from "../../cli/relations.ts"
import { MAX_PERIODS, type RelationSeries } from "../../identity/relations/index.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const DAY_MS = 86_400_000
const today = () => new Date().toISOString().slice(0, 10)
const daysAgo = (n: number) => new Date(Date.now() - n * DAY_MS).toISOString().slice(0, 10)

it("a report with a far until, or of ten years, has its relationships section up to today, in at most 400 periods", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    yield* w.insert("relation_runs", [{ tenant: "acme", as_of: daysAgo(3), computed_at: `${daysAgo(3)} 12:00:00.000`, profiles: 0 }])
    const section = (since: string, until: string) =>
      Effect.map(withRelationships(Effect.succeed({ tenant: "acme", since: `${since}T00:00:00.000Z`, until })),
        (r) => (r as { readonly relationships?: RelationSeries }).relationships!)
    const farUntil = yield* section(daysAgo(30), "2099-01-01T00:00:00.000Z")
    const tenYears = yield* section(daysAgo(3650), new Date().toISOString())
    for (const s of [farUntil, tenYears]) {
      expect(s.periods.length).toBeGreaterThan(0)
      expect(s.periods.length).toBeLessThanOrEqual(MAX_PERIODS)
      // Nothing is stored after today: no period of days to come.
      expect(s.periods.at(-1)!.end <= today(), JSON.stringify(s.periods.at(-1))).toBe(true)
    }
    expect(farUntil.every).toBe("week")
    expect(farUntil.periods[0]!.start).toBe(daysAgo(30))
    // Ten years of weeks are 522 periods: the section counts them by month instead.
    expect(tenYears.every).toBe("month")
    expect(tenYears.periods[0]!.start).toBe(daysAgo(3650))
  })), 60_000)
