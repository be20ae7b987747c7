// A request that names a tenant (/v1/tenants/{T}/..., ?tenant=T, an inspection's body "tenant") acts on that tenant's
// records only, whoever asks: found by probing `cdp serve` with the data dir's admin token (bound to no tenant), where
// GET /v1/tenants/default/dsr/{acme's id} answered acme's request and POST /v1/tenants/default/tokens/{acme's token}/revoke
// revoked acme's token, while audiences and every list already kept to the tenant named.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ADMIN = TEST_ADMIN_TOKEN

describe("a token bound to no tenant, on a request naming a tenant", () => {
  it("reads or revokes only that tenant's data-subject requests and tokens: another tenant's id is answered as unknown", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const dsr = yield* callApi(url, "POST", "/v1/dsr", ADMIN, { type: "access", identifier: "user_id:nobody", tenant: "acme" })
      expect(dsr.status, JSON.stringify(dsr.body)).toBe(201)
      const dsrId = dsr.body.request.id as string
      const made = yield* callApi(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", tenant: "acme" })
      expect(made.status).toBe(201)
      const tokenId = made.body.details.id as string
      const token = made.body.token as string

      // Named as acme (or not named), they are found.
      expect((yield* callApi(url, "GET", `/v1/tenants/acme/dsr/${dsrId}`, ADMIN)).status).toBe(200)
      expect((yield* callApi(url, "GET", `/v1/dsr/${dsrId}`, ADMIN)).status).toBe(200)
      expect((yield* callApi(url, "GET", `/v1/tokens/${tokenId}?tenant=acme`, ADMIN)).status).toBe(200)

      // Named as another tenant, they are ids that tenant does not have.
      for (const path of [`/v1/tenants/default/dsr/${dsrId}`, `/v1/dsr/${dsrId}?tenant=globex`]) {
        const res = yield* callApi(url, "GET", path, ADMIN)
        expect(res.status, path).toBe(404)
        expect(res.body.rule, path).toBe("dsr_not_found")
      }
      for (const [method, path, body] of [
        ["GET", `/v1/tenants/default/tokens/${tokenId}`, undefined],
        ["GET", `/v1/tokens/${tokenId}?tenant=globex`, undefined],
        ["POST", "/v1/tenants/default/tokens/inspect", { token }],
        ["POST", "/v1/tokens/inspect", { token, tenant: "globex" }],
        ["POST", `/v1/tenants/default/tokens/${tokenId}/revoke`, undefined],
      ] as const) {
        const res = yield* callApi(url, method, path, ADMIN, body)
        expect(res.status, `${method} ${path}`).toBe(404)
        expect(res.body.rule, `${method} ${path}`).toBe("token_not_found")
      }
      // The revoke named another tenant, so acme's token still works.
      expect((yield* callApi(url, "GET", "/v1/audiences", token)).status).toBe(200)
      const revoked = yield* callApi(url, "POST", `/v1/tenants/acme/tokens/${tokenId}/revoke`, ADMIN)
      expect(revoked.status).toBe(200)
      expect((yield* callApi(url, "GET", "/v1/audiences", token)).status).toBe(401)
    })), 60_000)
})
