// A list's cursor pages only the list and tenant that gave it. Found probing cdp serve: lists keyed alike took each
// other's cursors (a DSR list's nextCursor, [time, id], was answered 200 by GET /v1/operations and
// /v1/identity/suggestions, which paged from a place their list never had), and so did the same list of another tenant.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a cursor given to another list", () => {
  it("is refused 400 bad_cursor naming ?cursor=, for an admin token and one bound to a tenant; its own list takes it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      for (const who of ["p1", "p2", "p3"]) {
        expect((yield* callApi(url, "POST", "/v1/dsr", ADMIN, { type: "access", identifier: `email:${who}@acme.example`, tenant: "acme" })).status).toBe(201)
      }
      const made = yield* callApi(url, "POST", "/v1/tokens", ADMIN, { role: "admin", tenant: "acme" })
      expect(made.status).toBe(201)
      const bound = made.body.token as string
      const refused = (res: { status: number; body: ApiBody }, template: string, what: string) => {
        checkResponse(template, "GET", res.status, res.body)
        expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(400)
        expect(res.body, what).toMatchObject({ success: false, rule: "bad_cursor", field: "cursor" })
      }
      for (const [token, tenant] of [[ADMIN, "?tenant=acme&"], [bound, "?"]] as const) {
        const first = yield* callApi(url, "GET", `/v1/dsr${tenant}limit=1`, token)
        expect(first.status, JSON.stringify(first.body)).toBe(200)
        const cursor = first.body.nextCursor as string
        expect(typeof cursor).toBe("string")
        refused(yield* callApi(url, "GET", `/v1/operations${tenant}cursor=${cursor}`, token), "/v1/operations", `operations, ${tenant}`)
        refused(yield* callApi(url, "GET", `/v1/identity/suggestions${tenant}cursor=${cursor}`, token), "/v1/identity/suggestions", `suggestions, ${tenant}`)
        // Its own list pages on from it.
        const second = yield* callApi(url, "GET", `/v1/dsr${tenant}limit=1&cursor=${cursor}`, token)
        expect(second.status, JSON.stringify(second.body)).toBe(200)
        expect(second.body.requests[0].id).not.toBe(first.body.requests[0].id)
      }
      // The same list of another tenant (or of every tenant) does not take it either.
      const acme = (yield* callApi(url, "GET", "/v1/dsr?tenant=acme&limit=1", ADMIN)).body.nextCursor as string
      refused(yield* callApi(url, "GET", `/v1/dsr?tenant=globex&cursor=${acme}`, ADMIN), "/v1/dsr", "dsr of globex")
      refused(yield* callApi(url, "GET", `/v1/dsr?cursor=${acme}`, ADMIN), "/v1/dsr", "dsr of every tenant")
    })), 60_000)
})
