// A tenant's name is a segment of object keys (exports/<tenant>/..., dsr/bundles/<tenant>/...): "." and ".." are
// refused at the edge. Found probing cdp serve: tenant ".." was accepted everywhere, and its access request then
// failed inside ("invalid object key dsr/bundles/../...") after it had been recorded.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { TENANT_NAME } from "../../warehouse/tenant.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("tenant names", () => {
  it("are never '.' or '..', which no object key may hold as a segment; names with dots in them stay valid", () => {
    expect([".", ".."].filter((t) => TENANT_NAME.test(t))).toEqual([])
    expect(["acme", "acme.eu", "...", "..a", "a..", ".a", "a-b_c"].filter((t) => !TENANT_NAME.test(t))).toEqual([])
  })

  it("a request naming tenant '..' in its body or its query is refused 400 bad_tenant", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const res = yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "access", identifier: "user_id:ann", tenant: ".." })
      expect(res).toMatchObject({ status: 400, body: { success: false, rule: "bad_tenant", field: "/tenant" } })
      expect(String(res.body["error"])).toContain("not '.' or '..'")
      expect(yield* callApi(url, "GET", "/v1/dsr?tenant=..", TEST_ADMIN_TOKEN)).toMatchObject({ status: 400, body: { rule: "bad_tenant" } })
    })))
})
