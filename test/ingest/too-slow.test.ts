// A preview the engine stopped at its time (ClickHouse code 159) is the asker's to narrow: one refusal (refuseTooSlow)
// that the audience and computed-trait previews share, each with its documented rule, 422 as openapi.json describes.
import { describe, expect, it } from "vitest"
import { refuseTooSlow } from "../../ingest/query-route.ts"
import { WarehouseQueryError, WarehouseUnavailable } from "../../warehouse/warehouse.ts"
import { checkResponse } from "../support/openapi.ts"

const stopped = new WarehouseQueryError({ message: "Code: 159. DB::Exception: Timeout exceeded: elapsed 30.1 seconds", code: "159" })

describe("a preview past its time", () => {
  it.each([
    ["/v1/audiences/preview", "audience_too_slow", "/condition"],
    ["/v1/traits/preview", "preview_too_slow", "/definition"],
  ])("%s answers 422 %s naming %s, as openapi.json says", (path, rule, field) => {
    const reply = refuseTooSlow(stopped, { rule, seconds: 30, narrow: "it", field })
    expect(reply).toMatchObject({ status: 422, body: { success: false, rule, field, error: "the preview ran longer than the 30 s it may take: narrow it" } })
    checkResponse(path, "POST", reply!.status, reply!.body)
  })

  it("is no other failure", () => {
    const what = { rule: "x", seconds: 30, narrow: "it", field: "/" }
    expect(refuseTooSlow(new WarehouseQueryError({ message: "Code: 62. Syntax error", code: "62" }), what)).toBeUndefined()
    expect(refuseTooSlow(new WarehouseUnavailable({ backend: "embedded", message: "down" }), what)).toBeUndefined()
    expect(refuseTooSlow(new Error("159"), what)).toBeUndefined()
  })
})
