// GET /v1/me: any valid token reads what it is and what it may do on each route the server serves (what a console shows
// its user), and nothing of another tenant; every answer as openapi.json describes it.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const me = (url: string, token: string | null, method = "GET", query = "") =>
  Effect.map(callApi(url, method, `/v1/me${query}`, token), (res) => {
    checkResponse("/v1/me", method, res.status, res.body)
    return res
  })

const can = (body: ApiBody, route: string) => (body.routes as Array<{ route: string; read: boolean; write: boolean }>).find((r) => r.route === route)

describe("GET /v1/me", () => {
  it("tells a token its role, tenant, scopes and expiry, and which routes it may read and write", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const made = yield* callApi(url, "POST", "/v1/tokens", TEST_ADMIN_TOKEN, { role: "marketer", tenant: "acme", name: "campaign desk", expires: "2099-01-01" })
      expect(made.status, JSON.stringify(made.body)).toBe(201)
      const marketer = yield* me(url, made.body.token as string)
      expect(marketer.status).toBe(200)
      expect(marketer.body.token).toEqual({
        id: made.body.details.id, name: "campaign desk", role: "marketer", tenant: "acme",
        scopes: ["audiences:read", "audiences:write", "exports:read", "listening:read", "profiles:read", "relations:read"],
        expiresAt: "2099-01-01T00:00:00.000Z",
      })
      expect(can(marketer.body, "/v1/profiles/{identifier}")).toEqual({ route: "/v1/profiles/{identifier}", read: true, write: true })
      expect(can(marketer.body, "/v1/audiences")).toMatchObject({ read: true, write: true })
      expect(can(marketer.body, "/v1/exports")).toMatchObject({ read: true, write: false })
      expect(can(marketer.body, "/v1/dsr")).toMatchObject({ read: false, write: false })
      expect(can(marketer.body, "/v1/tokens")).toMatchObject({ read: false, write: false })
      expect(can(marketer.body, "/v1/me")).toMatchObject({ read: true, write: true })

      // What it says matches what the server does: a route it may not read answers 403, one it may read does not.
      expect((yield* callApi(url, "GET", "/v1/dsr", made.body.token as string)).status).toBe(403)
      expect((yield* callApi(url, "GET", "/v1/audiences", made.body.token as string)).status).toBe(200)

      const admin = yield* me(url, TEST_ADMIN_TOKEN)
      expect(admin.body.token).toMatchObject({ id: "admin-token", name: "", role: "admin", tenant: null, expiresAt: null })
      expect((admin.body.routes as Array<{ read: boolean; write: boolean }>).every((r) => r.read && r.write)).toBe(true)
    })), 60_000)

  it("answers no token, a revoked one, another tenant, a parameter and a POST as it says", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const made = yield* callApi(url, "POST", "/v1/tokens", TEST_ADMIN_TOKEN, { role: "compliance", tenant: "acme" })
      const token = made.body.token as string
      expect((yield* me(url, null)).body.rule).toBe("missing_token")
      expect(yield* me(url, token, "GET", "?tenant=globex")).toMatchObject({ status: 403, body: { rule: "tenant_forbidden" } })
      expect(yield* me(url, token, "GET", "?tenant=acme")).toMatchObject({ status: 200, body: { token: { role: "compliance" } } })
      expect(yield* me(url, token, "GET", "?verbose=1")).toMatchObject({ status: 400, body: { rule: "unknown_parameter", field: "verbose" } })
      const post = yield* callApi(url, "POST", "/v1/me", token, {})
      expect(post).toMatchObject({ status: 405, body: { rule: "method_not_allowed" } })
      expect(post.headers["allow"]).toBe("GET")

      expect((yield* callApi(url, "POST", `/v1/tokens/${made.body.details.id}/revoke`, TEST_ADMIN_TOKEN, {})).status).toBe(200)
      expect(yield* me(url, token)).toMatchObject({ status: 401, body: { rule: "token_revoked" } })
    })), 60_000)
})
