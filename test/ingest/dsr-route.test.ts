// POST /v1/dsr refuses what it does not take. Found probing cdp serve: a field it did not know was ignored, so a
// restriction sent with "Lift": true (a typo of "lift") was run as a new restriction instead of lifting one.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("POST /v1/dsr", () => {
  it("a body field it does not take is refused 400 naming it, and no request is recorded", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const typo = yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN,
        { type: "restriction", identifier: "email:ann@acme.example", tenant: "acme", Lift: true })
      expect(typo.status).toBe(400)
      expect(typo.body).toMatchObject({ success: false, rule: "bad_body", field: "/Lift" })
      expect(String(typo.body["error"])).toBe('unknown field "Lift" (a request takes type, identifier, tenant, set, lift)')
      const listed = yield* callApi(url, "GET", "/v1/dsr?tenant=acme", TEST_ADMIN_TOKEN)
      expect(listed.body["requests"]).toEqual([])
      // What the CLI sends (tenant, type, identifier, and set or lift when given) is still taken.
      const ok = yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "access", identifier: "email:ann@acme.example", tenant: "acme" })
      expect(ok.status).toBe(201)
    })), 60_000)
})
