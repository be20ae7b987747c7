// A call's start time that is a date-time the warehouse cannot store is refused saying so, as Segment's and chat's
// are. Found probing cdp serve: started_at 0000-01-01T00:00:00Z was refused as "must be an ISO-8601 date-time such as
// 2024-09-16T09:28:50Z", which it is.
import { describe, expect, it } from "vitest"
import { parseCallsWebhook } from "../../../ingest/sources/calls.ts"
import { context, split } from "./helpers.ts"

const HEADER = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes\n"

describe("calls: a start time out of the warehouse's range", () => {
  it("names the range for a valid date-time outside it, and the format for one that is not a date-time", () => {
    const body = `${HEADER}c0,0000-01-01T00:00:00Z,60,inbound,,P,q,resolved,ok\nc1,2300-01-01T00:00:00Z,60,inbound,,P,q,resolved,ok\nc2,01/02/2024,60,inbound,,P,q,resolved,ok\n`
    const { deadLetters } = split(parseCallsWebhook(body, context()))
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([
      ["c0", "bad_timestamp", "/started_at"], ["c1", "bad_timestamp", "/started_at"], ["c2", "bad_timestamp", "/started_at"],
    ])
    expect(deadLetters[0]!.rejection.message).toContain('started_at "0000-01-01T00:00:00Z" is a valid ISO-8601 date-time outside the range the warehouse stores')
    expect(deadLetters[1]!.rejection.message).toContain("outside the range the warehouse stores")
    expect(deadLetters[2]!.rejection.message).toContain("must be an ISO-8601 date-time such as 2024-09-16T09:28:50Z")
  })
  it("names the range for a date-time with an expanded year (+010000-..., -000001-...), as 98e510a says it does", () => {
    const dates = ["+010000-01-01T00:00:00Z", "-000001-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "+999999-12-31T23:59:59Z"]
    const body = HEADER + dates.map((d, i) => `c${i},${d},60,inbound,,P,q,resolved,ok\n`).join("")
    const { deadLetters } = split(parseCallsWebhook(body, context()))
    expect(deadLetters.map((d) => d.rejection.message.replace(/^body row \d+ \(line \d+\): /, ""))).toEqual(dates.map((d) =>
      `started_at "${d}" is a valid ISO-8601 date-time outside the range the warehouse stores (1900-01-01T00:00:00Z to 2299-12-31T23:59:59.999Z); it is refused rather than changed`))
  })

  it("still names the format for an expanded year ISO-8601 does not have (-000000, five digits, a bad month)", () => {
    const dates = ["-000000-01-01T00:00:00Z", "+10000-01-01T00:00:00Z", "+010000-13-01T00:00:00Z", "010000-01-01T00:00:00Z"]
    const body = HEADER + dates.map((d, i) => `c${i},${d},60,inbound,,P,q,resolved,ok\n`).join("")
    const { deadLetters } = split(parseCallsWebhook(body, context()))
    expect(deadLetters.map((d) => d.rejection.message.replace(/^body row \d+ \(line \d+\): /, ""))).toEqual(dates.map((d) =>
      `started_at must be an ISO-8601 date-time such as 2024-09-16T09:28:50Z (got "${d}")`))
  })
})
