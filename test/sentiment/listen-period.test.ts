import { describe, expect, it } from "vitest"
import { InvalidPeriod, parseSince, parseUntil, SinceInFuture } from "../../sentiment/index.ts"
import { DateNotOnCalendar } from "../../warehouse/calendar.ts"

const NOW = new Date("2024-12-02T15:30:00.000Z")

describe("report periods", () => {
  it("7d and 2w start at midnight UTC that many days before today, so every day of the report is whole", () => {
    expect(parseSince("7d", NOW).toISOString()).toBe("2024-11-25T00:00:00.000Z")
    expect(parseSince("2w", NOW).toISOString()).toBe("2024-11-18T00:00:00.000Z")
    expect(parseSince("1D", NOW).toISOString()).toBe("2024-12-01T00:00:00.000Z")
  })

  it("hours are exact", () => {
    expect(parseSince("24h", NOW).toISOString()).toBe("2024-12-01T15:30:00.000Z")
  })

  it("a date is its midnight UTC; an ISO time is that instant", () => {
    expect(parseSince("2024-10-01", NOW).toISOString()).toBe("2024-10-01T00:00:00.000Z")
    expect(parseSince("2024-10-01T12:00:00+02:00", NOW).toISOString()).toBe("2024-10-01T10:00:00.000Z")
  })

  it("a start after now is refused, naming the value and now (its report would be empty); an end after now is taken", () => {
    for (const later of ["2024-12-03", "2099-01-01", "2024-12-02T15:30:01Z"]) {
      expect(() => parseSince(later, NOW), later).toThrow(SinceInFuture)
      expect(() => parseSince(later, NOW)).toThrow(`"${later}" is in the future (it is 2024-12-02T15:30:00Z now): the period must start at or before now`)
    }
    // Today's date and this very instant are no future.
    expect(parseSince("2024-12-02", NOW).toISOString()).toBe("2024-12-02T00:00:00.000Z")
    expect(parseSince("2024-12-02T15:30:00Z", NOW).toISOString()).toBe("2024-12-02T15:30:00.000Z")
    expect(parseUntil("2099-01-01", NOW).toISOString()).toBe("2099-01-02T00:00:00.000Z")
    expect(parseUntil("2099-01-01T00:00:00Z", NOW).toISOString()).toBe("2099-01-01T00:00:00.000Z")
  })

  it("an end date includes that whole day", () => {
    expect(parseUntil("2024-12-01", NOW).toISOString()).toBe("2024-12-02T00:00:00.000Z")
    expect(parseUntil("2024-12-01T06:00:00Z", NOW).toISOString()).toBe("2024-12-01T06:00:00.000Z")
    expect(parseUntil("1d", NOW).toISOString()).toBe("2024-12-01T00:00:00.000Z")
  })

  it("anything else is refused with a message that says what is accepted", () => {
    for (const bad of ["", "7", "7x", "last week", "2024-13-45", "yesterday"]) {
      expect(() => parseSince(bad, NOW), bad).toThrow(InvalidPeriod)
    }
    expect(() => parseSince("soon", NOW)).toThrow(/use 7d, 2w, 24h, a date/)
  })

  it("a period reaching back before 1900-01-01 is refused as a date before it is, naming how far it goes", () => {
    expect(() => parseSince("9999w", NOW)).toThrow(DateNotOnCalendar)
    expect(() => parseSince("9999w", NOW)).toThrow(/^9999w goes back to 1833-\d{2}-\d{2}, before 1900-01-01, the earliest day the warehouse holds/)
    expect(() => parseSince("99999d", NOW)).toThrow(/^99999d goes back to 1751-\d{2}-\d{2}, before 1900-01-01/)
    expect(() => parseUntil(`${"9".repeat(400)}h`, NOW)).toThrow(/^9{40}… goes back before 1900-01-01/)
    expect(parseSince("6000w", NOW).toISOString()).toBe("1909-12-06T00:00:00.000Z")
  })

  it("quotes at most 40 characters of a value it cannot read", () => {
    expect(() => parseSince("x".repeat(5000), NOW)).toThrow(new RegExp(`^"x{40}…" is not a period`))
  })
})
