// DELETE /v1/audiences/{id} reads the tenant where PATCH does, in the body as well as ?tenant= or the path. Probing
// cdp serve found a DELETE with {"tenant": "acme"} acting on tenant "default" (404 there) while the guard had checked
// the token against "acme": the body was ignored without a word. A field DELETE does not read is refused naming it.
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { callChecked as call } from "../../support/openapi.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { withConsent } from "../../consent/support.ts"
import { serveAudiences } from "./support.ts"

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

describe("DELETE /v1/audiences/{id} with a body", () => {
  it("deletes in the tenant the body names, and refuses a field it does not read", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
      const made = yield* call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant: "acme", name: "Gone", purpose: "Analytics", condition: { trait: "plan", exists: true } })
      const id = made.body["audience"].id as string
      expect(yield* call(base, "/v1/audiences/{id}", "DELETE", `/v1/audiences/${id}`, { tenant: "acme", reason: "x" }))
        .toMatchObject({ status: 400, body: { rule: "bad_audience", field: "/reason" } })
      expect(yield* call(base, "/v1/audiences/{id}", "DELETE", `/v1/audiences/${id}`, { tenant: "acme" })).toMatchObject({ status: 200, body: { deleted: true } })
      expect((yield* call(base, "/v1/audiences/{id}", "GET", `/v1/audiences/${id}?tenant=acme`)).status).toBe(404)
    })), 60_000)
})
