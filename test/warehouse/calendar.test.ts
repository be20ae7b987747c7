// The one rule for a date given as a time bound: a day on the calendar that the warehouse's DateTime64 columns hold
// (1900-01-01 to 2299-12-31), refused with the date and the reason otherwise; relative forms have no date to check.
import { describe, expect, it } from "vitest"
import { dateOffTheCalendar, EARLIEST_MS, LATEST_MS, notADay } from "../../warehouse/calendar.ts"

const refusal = (value: string) => dateOffTheCalendar(value)?.message

describe("dateOffTheCalendar", () => {
  it("refuses a day before 1900-01-01 or after 2299-12-31, by its UTC instant when it names an offset", () => {
    const before = "is before 1900-01-01, the earliest day the warehouse holds (dates run from 1900-01-01 to 2299-12-31)"
    const after = "is after 2299-12-31, the latest day the warehouse holds (dates run from 1900-01-01 to 2299-12-31)"
    expect(refusal("0001-01-01")).toBe(`0001-01-01 ${before}`)
    expect(refusal("1899-12-31T23:59:59Z")).toBe(`1899-12-31 ${before}`)
    expect(refusal("1900-01-01T00:30:00+01:00")).toBe(`1900-01-01T00:30:00+01:00 ${before}`)
    expect(refusal("2300-01-01")).toBe(`2300-01-01 ${after}`)
    expect(refusal("9999-12-31")).toBe(`9999-12-31 ${after}`)
    expect(refusal("2299-12-31T23:00:00-02:00")).toBe(`2299-12-31T23:00:00-02:00 ${after}`)
  })

  it("takes the first and last days and instants the warehouse holds, and relative forms", () => {
    for (const ok of ["1900-01-01", "1900-01-01T00:00:00Z", "1900-01-01T01:00:00+01:00", "2299-12-31", "2299-12-31T23:59:59.999Z", "2024-02-29", "7d", "24h"]) {
      expect(refusal(ok), ok).toBeUndefined()
    }
    expect(EARLIEST_MS).toBe(Date.parse("1900-01-01T00:00:00Z"))
    expect(LATEST_MS).toBe(Date.parse("2299-12-31T23:59:59.999Z"))
  })

  it("still refuses a day its month has not and year 0000 as not on the calendar", () => {
    expect(refusal("2024-02-30")).toBe("2024-02-30 is not a day on the calendar")
    expect(refusal("0000-01-01")).toBe("0000-01-01 is not a day on the calendar")
  })
})

describe("a day and nothing else (cdp relations --as-of, /v1/relations?as_of=)", () => {
  it("takes YYYY-MM-DD on the calendar; refuses a time, month 13, a moved day and a day the warehouse cannot hold, saying why", () => {
    expect(notADay("2024-11-01")).toBeUndefined()
    expect(notADay("2024-11-01T00:00:00Z")).toBe('must be a date YYYY-MM-DD, e.g. 2024-11-01 (got "2024-11-01T00:00:00Z")')
    expect(notADay("2024-13-01")).toBe('must be a date YYYY-MM-DD, e.g. 2024-11-01 (got "2024-13-01")')
    expect(notADay("7d")).toMatch(/^must be a date YYYY-MM-DD/)
    expect(notADay("2024-02-30")).toBe("2024-02-30 is not a day on the calendar")
    expect(notADay("1850-01-01")).toMatch(/^1850-01-01 is before 1900-01-01/)
    expect(notADay("x".repeat(5000))).toBe(`must be a date YYYY-MM-DD, e.g. 2024-11-01 (got "${"x".repeat(40)}")`)
  })
})
