// What cdp serve's X connectors try again at the next poll (cli/social.ts passingTrouble) and what stops them: a
// wrong request or token stops them; an outage of X or of the event bus is waited out (a page counts as read only
// once its tweets were handed on, so nothing is lost by asking again).
import { describe, expect, it } from "vitest"
import { passingTrouble } from "../../cli/social.ts"
import { BusUnavailable } from "../../ingest/bus.ts"
import { XRequestRejected, XUnavailable } from "../../ingest/social/index.ts"

describe("the X connectors of cdp serve", () => {
  it("try again after an outage of X or of the event bus, not after a refused request", () => {
    expect(passingTrouble(new XUnavailable({ endpoint: "tweets/search/recent", reason: "connect ECONNREFUSED" }))).toBe(true)
    expect(passingTrouble(new BusUnavailable({ backend: "kafka", message: "the broker is unreachable" }))).toBe(true)
    expect(passingTrouble(new XRequestRejected({ endpoint: "tweets/search/recent", status: 400, detail: "bad query" }))).toBe(false)
    expect(passingTrouble(new Error("anything else"))).toBe(false)
  })
})
