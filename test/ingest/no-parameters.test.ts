// A route that takes no query parameter says so when given one. Found probing cdp serve: GET /v1/dsr/dsr_xxxxxx?y=1 and
// GET /v1/operations/op_x?y=1 answered 400 "?y= is not taken here; this route takes " (the sentence ended there).
import { describe, expect, it } from "vitest"
import { refuseUnknownParameter } from "../../ingest/pages.ts"

describe("a parameter given to a route that takes none", () => {
  it("is refused 400 unknown_parameter saying the route takes none but ?tenant=", () => {
    const r = refuseUnknownParameter(new URL("http://collector/v1/dsr/dsr_xxxxxx?y=1"), [], "route")
    expect(r).toMatchObject({ status: 400, body: { rule: "unknown_parameter", field: "y" } })
    expect((r!.body as { error: string }).error).toBe("?y= is not taken here; this route takes no parameter but ?tenant=")
    expect(refuseUnknownParameter(new URL("http://collector/v1/dsr/dsr_xxxxxx?tenant=acme"), [], "route")).toBeUndefined()
    // A list still names what it takes.
    expect((refuseUnknownParameter(new URL("http://collector/v1/tokens?limt=5"))!.body as { error: string }).error)
      .toBe("?limt= is not taken here; this list takes ?limit=, ?cursor=")
  })
})
