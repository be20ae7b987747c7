// Another tenant's DSR or token, asked for by id with a token bound to a tenant, is answered exactly as an id nobody
// has is. Found probing cdp serve: GET /v1/dsr/{id} and GET /v1/tokens/{id} of another tenant answered 403
// tenant_forbidden ("request dsr_... is another tenant's"), which told a bound token that the id exists; an audience id
// of another tenant answered 404, as an unknown one.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** An answer with `id` written as `as`: an unknown id's answer names the id asked for. */
const naming = (res: { status: number; body: ApiBody }, id: string, as: string) =>
  ({ status: res.status, body: JSON.parse(JSON.stringify(res.body).replaceAll(id, as)) as ApiBody })

describe("an id of another tenant, asked for with a token bound to a tenant", () => {
  it("gets the answer an unknown id gets: a DSR by id, a token by id, its revocation and its inspection", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const made = (request: Record<string, unknown>) => Effect.map(callApi(url, "POST", "/v1/tokens", ADMIN, request), (r) => {
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return { token: r.body.token as string, id: r.body.details.id as string }
      })
      const acme = yield* made({ role: "admin", tenant: "acme" })
      const globex = yield* made({ role: "marketer", tenant: "globex" })
      const dsr = yield* callApi(url, "POST", "/v1/dsr", ADMIN, { type: "access", identifier: "email:gus@globex.example", tenant: "globex" })
      expect(dsr.status, JSON.stringify(dsr.body)).toBe(201)
      const dsrId = dsr.body.request.id as string

      const unknownDsr = "dsr_nobodyhasthisid0"
      const foreign = yield* callApi(url, "GET", `/v1/dsr/${dsrId}`, acme.token)
      const unknown = yield* callApi(url, "GET", `/v1/dsr/${unknownDsr}`, acme.token)
      expect(unknown.status).toBe(404)
      expect(naming(foreign, dsrId, unknownDsr)).toEqual(naming(unknown, unknownDsr, unknownDsr))

      const unknownToken = "tok_nobodyhasthis0"
      for (const [method, path] of [["GET", "/v1/tokens/{id}"], ["POST", "/v1/tokens/{id}/revoke"]] as const) {
        const body = method === "POST" ? {} : undefined
        const theirs = yield* callApi(url, method, path.replace("{id}", globex.id), acme.token, body)
        const nobodys = yield* callApi(url, method, path.replace("{id}", unknownToken), acme.token, body)
        expect(nobodys.status, path).toBe(404)
        expect(naming(theirs, globex.id, unknownToken), path).toEqual(naming(nobodys, unknownToken, unknownToken))
      }
      const inspected = yield* callApi(url, "POST", "/v1/tokens/inspect", acme.token, { token: globex.token })
      const inspectedUnknown = yield* callApi(url, "POST", "/v1/tokens/inspect", acme.token, { token: `cdp_${"A".repeat(43)}` })
      expect(inspectedUnknown.status).toBe(404)
      expect({ status: inspected.status, body: inspected.body }).toEqual({ status: inspectedUnknown.status, body: inspectedUnknown.body })

      // Nothing of globex's was touched, and its owner still sees both.
      expect((yield* callApi(url, "GET", `/v1/tokens/${globex.id}`, ADMIN)).body.details.status).toBe("active")
      expect((yield* callApi(url, "GET", `/v1/dsr/${dsrId}`, ADMIN)).status).toBe(200)
    })), 60_000)
})
