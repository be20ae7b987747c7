// The audit log's ?since= / ?until= (and cdp audit log --since / --until, which go through the route) refuse a
// relative time reaching before 1900-01-01, as they refuse such a date. Found probing cdp serve: GET /v1/audit?since=99999d
// answered 200 with the newest entries (99,999 days back is the year 1752), and ?until=99999d an empty page, while
// ?since=1899-12-31 is refused 400 naming the range the warehouse's dates hold.
import { describe, expect, it } from "vitest"
import { parseAuditTime } from "../../ingest/audit-route.ts"

const NOW = Date.UTC(2026, 11, 5, 9, 0, 0)

describe("the audit log's time bounds", () => {
  it("a relative time before 1900-01-01 is refused 400 naming the parameter and the range", () => {
    for (const field of ["since", "until"]) {
      const r = parseAuditTime("99999d", field, NOW)
      expect(r).toMatchObject({ status: 400, body: { success: false, rule: `bad_${field}`, field } })
      const error = String((r as { body: { error: string } }).body.error)
      expect(error).toContain(`${field}: 99999d`)
      expect(error).toContain("1900-01-01")
    }
  })

  it("relative times within the range, dates and date-times are taken", () => {
    expect(parseAuditTime("7d", "since", NOW)).toBe(NOW - 7 * 86_400_000)
    expect(parseAuditTime("24h", "until", NOW)).toBe(NOW - 86_400_000)
    expect(parseAuditTime("45000d", "since", NOW)).toBe(NOW - 45_000 * 86_400_000)
    expect(parseAuditTime("2026-01-31", "since", NOW)).toBe(Date.UTC(2026, 0, 31))
    expect(parseAuditTime(null, "since", NOW)).toBeUndefined()
  })
})
