// Dates the warehouse cannot store are refused with the real reason (the storable range), never moved to another year.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { isoDateTimeOutOfRange, parseIsoDateTime } from "../../ingest/schemas.ts"
import { validateSocialPost } from "../../ingest/sources/social.ts"
import { validateSegmentMessage } from "../../ingest/sources/segment.ts"
import { freshDir, post, query, removeDir, withCollector } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("dates outside the warehouse's range", () => {
  it("reads years 0000-0099 as themselves (Date.UTC would read them as 1900-1999), so they are out of range", () => {
    for (const text of ["0000-01-01T00:00:00.000Z", "0001-01-01T00:00:00Z", "0099-06-30T12:00:00+02:00"]) {
      expect(parseIsoDateTime(text), text).toBeNaN()
      expect(isoDateTimeOutOfRange(text), text).toBe(true)
    }
    expect(isoDateTimeOutOfRange("yesterday")).toBe(false)
    expect(isoDateTimeOutOfRange("2024-02-30T00:00:00Z")).toBe(false)
    expect(parseIsoDateTime("1899-12-31T23:30:00-01:00")).toBe(Date.UTC(1900, 0, 1, 0, 30))
  })

  it("names the storable range, not the ISO-8601 form, when a valid date-time is out of range", () => {
    for (const timestamp of ["2300-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z"]) {
      const rejection = validateSegmentMessage({ type: "track", event: "E", userId: "u", timestamp })
      expect(rejection, timestamp).toMatchObject({ rule: "bad_timestamp", field: "/timestamp" })
      expect(rejection!.message).toContain("outside the range the warehouse stores (1900-01-01T00:00:00Z to 2299-12-31T23:59:59.999Z)")
      expect(rejection!.message).not.toContain("must be")
    }
    const social = validateSocialPost({ id: "1", network: "forum", author_handle: "h", text: "t", created_at: "2300-01-01T00:00:00Z" })
    expect(social).toMatchObject({ rule: "bad_timestamp", field: "/created_at" })
    expect(social!.message).toContain("outside the range the warehouse stores")
    expect(validateSegmentMessage({ type: "track", event: "E", userId: "u", timestamp: "yesterday" })!.message).toContain("ISO-8601")
  })

  it("/v1/import refuses years 0000, 0001, 2300 and 9999 instead of landing them as 1900 and 1901", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const message = (id: string, timestamp: string) => ({ type: "track", event: "E", userId: "u", messageId: id, timestamp })
        const res = yield* post(`${url}/v1/import`, {
          batch: [
            message("y0", "0000-01-01T00:00:00.000Z"), message("y1", "0001-06-01T00:00:00.000Z"),
            message("y2300", "2300-01-01T00:00:00.000Z"), message("y9999", "9999-01-01T00:00:00.000Z"),
            message("ok", "1900-01-01T00:00:00.000Z"),
          ],
        })
        expect(res.status).toBe(400)
        expect(res.body["accepted"]).toBe(1)
        const rejected = res.body["rejected"] as Array<{ messageId: string; rule: string; field: string; message: string }>
        expect(rejected.map((r) => [r.messageId, r.rule, r.field])).toEqual([
          ["y0", "bad_timestamp", "/timestamp"], ["y1", "bad_timestamp", "/timestamp"],
          ["y2300", "bad_timestamp", "/timestamp"], ["y9999", "bad_timestamp", "/timestamp"],
        ])
        for (const r of rejected) expect(r.message).toContain("outside the range the warehouse stores")
        expect(yield* query("SELECT message_id, toString(timestamp) AS t FROM events")).toEqual([{ message_id: "ok", t: "1900-01-01 00:00:00.000" }])
      })))
})
