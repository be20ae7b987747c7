import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { formatIsoDateTime, parseIsoDateTime } from "../../ingest/schemas.ts"

describe("ISO-8601 date-time parsing", () => {
  it("reads any valid instant written as toISOString writes it, to the millisecond (property)", () => {
    fc.assert(fc.property(fc.date({ min: new Date("1900-01-01T00:00:00Z"), max: new Date("2299-12-31T23:59:59Z"), noInvalidDate: true }), (d) =>
      parseIsoDateTime(d.toISOString()) === d.getTime()))
  })

  it("formats any instant of the warehouse's range exactly as toISOString does (property)", () => {
    fc.assert(fc.property(fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2299, 11, 31, 23, 59, 59, 999) }), (ms) =>
      formatIsoDateTime(ms) === new Date(ms).toISOString()))
    expect(formatIsoDateTime(Date.UTC(2024, 1, 29, 23, 59, 59, 7))).toBe("2024-02-29T23:59:59.007Z")
    expect(formatIsoDateTime(Date.UTC(1969, 11, 31, 0, 0, 0, 0))).toBe("1969-12-31T00:00:00.000Z")
  })

  it("refuses impossible calendar dates and out-of-range years in every form", () => {
    for (const bad of ["2023-02-29T10:00:00.000Z", "2024-13-01T00:00:00.000Z", "2024-04-31T00:00:00.000Z", "2024-01-01T24:00:00.000Z",
      "1899-12-31T23:59:59.999Z", "2024-01-01T00:00:00.00xZ", "2023-02-29T10:00:00Z", "yesterday", ""]) {
      expect(parseIsoDateTime(bad), bad).toBeNaN()
    }
  })

  it("accepts offsets, missing seconds and no zone (UTC)", () => {
    expect(parseIsoDateTime("2024-02-29T10:00:00.000Z")).toBe(Date.UTC(2024, 1, 29, 10))
    expect(parseIsoDateTime("2024-10-01T13:00+01:00")).toBe(Date.UTC(2024, 9, 1, 12))
    expect(parseIsoDateTime("2024-10-01T12:00:00")).toBe(Date.UTC(2024, 9, 1, 12))
  })

  it("refuses a zone offset no clock has (hours past 23, minutes past 59) instead of moving the time by it", () => {
    for (const bad of ["2026-12-04T03:00:00+25:00", "2026-12-04T03:00:00-99:99", "2026-12-04T03:00:00+0160", "2026-12-04T03:00:00+24"]) {
      expect(parseIsoDateTime(bad), bad).toBeNaN()
    }
    expect(parseIsoDateTime("2026-12-04T03:00:00+23:59")).toBe(Date.UTC(2026, 11, 4, 3) - (23 * 60 + 59) * 60_000)
    expect(parseIsoDateTime("2026-12-04T03:00:00-1200")).toBe(Date.UTC(2026, 11, 4, 15))
    expect(parseIsoDateTime("2026-12-04T03:00:00+05")).toBe(Date.UTC(2026, 11, 3, 22))
  })
})
