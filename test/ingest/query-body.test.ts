// POST /v1/query takes {"sql", "tenant"?} or {"sql", "allTenants": true}, and ?tenant=. A field or parameter it does
// not take was ignored: {"sql", "allTenant": true} (a typo) answered the default tenant's rows as if they were every
// tenant's, {"sql", "tenants": "acme"} likewise. Each is refused 400 naming it.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checked } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ask = (url: string, path: string, body: unknown) =>
  Effect.map(callApi(url, "POST", path, TEST_ADMIN_TOKEN, body), (res) => checked("/v1/query", "POST", res))

describe("POST /v1/query with a field or parameter it does not take", () => {
  it("is refused 400 naming it, instead of running for the default tenant", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      for (const [body, field] of [
        [{ sql: "SELECT 1 AS one", allTenant: true }, "/allTenant"],
        [{ sql: "SELECT 1 AS one", tenants: "acme" }, "/tenants"],
      ] as const) {
        const res = yield* ask(url, "/v1/query", body)
        expect(res.status, JSON.stringify(res.body)).toBe(400)
        expect(res.body).toEqual({
          success: false, rule: "bad_body", field,
          error: `unknown field "${field.slice(1)}"; the body must be JSON {"sql": "...", "tenant": "..."} (or "allTenants": true instead of "tenant")`,
        })
      }
      const param = yield* ask(url, "/v1/query?tenant=acme&format=csv", { sql: "SELECT 1 AS one" })
      expect(param.status, JSON.stringify(param.body)).toBe(400)
      expect(param.body).toEqual({ success: false, rule: "unknown_parameter", field: "format", error: "?format= is not taken here; this route takes ?tenant= (the SQL goes in the body)" })
      for (const [path, body] of [["/v1/query", { sql: "SELECT 1 AS one", tenant: "acme" }], ["/v1/query?tenant=acme", { sql: "SELECT 1 AS one" }]] as const) {
        const ok = yield* ask(url, path, body)
        expect(ok.status, JSON.stringify(ok.body)).toBe(200)
        expect(ok.body).toEqual({ success: true, rows: [{ one: 1 }] })
      }
    })), 120_000)
})
