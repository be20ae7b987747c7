// A method /v1/dsr does not serve is answered 405 with the methods its path does serve (RFC 9110 15.5.6: Allow lists
// what the target resource supports). Seen probing cdp serve: POST /v1/dsr/dsr_... was answered 405 with "Allow: GET,
// POST", naming as allowed the method it had just refused, and the words "use POST /v1/dsr or GET /v1/dsr[/{id}]".
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

it("a request's path allows GET alone, the list's GET and POST", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    const submitted = yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "access", identifier: "email:ann@acme.example", tenant: "acme" })
    expect(submitted.status).toBe(201)
    const id = String(submitted.body["request"]["id"])
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const res = yield* callApi(url, method, `/v1/dsr/${id}`, TEST_ADMIN_TOKEN, {})
      expect(res.status, method).toBe(405)
      expect(res.headers["allow"], method).toBe("GET")
      expect(res.body).toEqual({ success: false, rule: "method_not_allowed", error: "use GET /v1/dsr/{id} (POST /v1/dsr submits a request)" })
    }
    for (const method of ["PUT", "PATCH", "DELETE"]) {
      const res = yield* callApi(url, method, "/v1/dsr", TEST_ADMIN_TOKEN, {})
      expect(res.status, method).toBe(405)
      expect(res.headers["allow"], method).toBe("GET, POST")
      expect(res.body).toEqual({ success: false, rule: "method_not_allowed", error: "use POST /v1/dsr or GET /v1/dsr" })
    }
    // What the path serves is still served.
    expect((yield* callApi(url, "GET", `/v1/dsr/${id}`, TEST_ADMIN_TOKEN)).status).toBe(200)
  })), 60_000)
