// A method a path does not serve is answered 405 with the methods that path serves (RFC 9110 15.5.6: Allow lists what
// the target resource supports). Seen probing cdp serve: PUT /v1/tokens/{id}, /v1/tokens/inspect and
// /v1/tokens/{id}/revoke said "Allow: GET, POST" (the list's methods), and PUT /health said no Allow at all.
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

it("each token path and /health name what they serve", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    const made = yield* callApi(url, "POST", "/v1/tokens", TEST_ADMIN_TOKEN, { role: "marketer", tenant: "acme", name: "m" })
    expect(made.status).toBe(201)
    const id = String(made.body["details"]["id"])
    const allowed: ReadonlyArray<readonly [string, string]> = [
      ["/v1/tokens", "GET, POST"], [`/v1/tokens/${id}`, "GET"], ["/v1/tokens/inspect", "POST"], [`/v1/tokens/${id}/revoke`, "POST"], ["/health", "GET, HEAD"],
    ]
    for (const [path, allow] of allowed) {
      for (const method of ["PUT", "PATCH", "DELETE"]) {
        const res = yield* callApi(url, method, path, TEST_ADMIN_TOKEN, {})
        expect(res.status, `${method} ${path}`).toBe(405)
        expect(res.headers["allow"], `${method} ${path}`).toBe(allow)
        expect(res.body["rule"], `${method} ${path}`).toBe("method_not_allowed")
      }
    }
    // What they serve is still served.
    expect((yield* callApi(url, "GET", `/v1/tokens/${id}`, TEST_ADMIN_TOKEN)).status).toBe(200)
    expect((yield* callApi(url, "GET", "/health", TEST_ADMIN_TOKEN)).status).toBe(200)
  })), 60_000)
