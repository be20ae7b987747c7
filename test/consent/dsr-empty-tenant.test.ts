// A request for a tenant that holds nothing at all (a typo in the tenant's name) is recorded and completed, and says
// plainly that the tenant holds no data, apart from "no profile holds the identifier" in a tenant that has data. Found
// probing cdp serve: an erasure for tenant "acmee" (the data is acme's) completed "nothing held", true but easy for a
// compliance officer to take as done.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { renderRequest } from "../../cli/dsr.ts"
import type { RequestView } from "../../consent/dsr.ts"
import { callApi as call, landBatch, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a data-subject request for a tenant that holds nothing", () => {
  it("completes, with tenantHoldsData false and words saying the tenant holds no data; a tenant with data says true", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landBatch(url, [{ type: "identify", userId: "u1", traits: { email: "ann@x.example" }, messageId: "m1", timestamp: "2024-10-01T10:00:00Z" }],
        { identifier: "user_id:u1", events: 1 })
      const submit = (tenant: string, identifier: string, type = "access") => Effect.map(call(url, "POST", "/v1/dsr", ADMIN, { type, identifier, tenant }), (r) => {
        checkResponse("/v1/dsr", "POST", r.status, r.body)
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return r.body.request as RequestView
      })
      const typo = yield* submit("acmee", "email:ann@x.example", "erasure")
      expect(typo.status).toBe("completed")
      expect(typo.details).toMatchObject({ profiles: 0, tenantHoldsData: false })
      expect((typo.details as { note?: string }).note).toBe(
        'tenant "acmee" holds no data at all (no message, consent record or identity observation): check the tenant\'s name; the request is recorded as asked')
      expect(renderRequest(typo)).toContain('found     tenant "acmee" holds no data at all')
      const unknown = yield* submit("acme", "email:nobody@x.example")
      expect(unknown.details).toMatchObject({ profiles: 0, tenantHoldsData: true })
      expect((unknown.details as { note?: string }).note).toBeUndefined()
      expect(renderRequest(unknown)).toContain('found     no profile of tenant "acme" holds it')
      const held = yield* submit("acme", "email:ann@x.example")
      expect(held.details).toMatchObject({ profiles: 1, tenantHoldsData: true })
    })), 180_000)
})
