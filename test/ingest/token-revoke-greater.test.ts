// A token revokes only tokens it could have made: none holding a scope it lacks, and, if it expires, none that outlives
// it; itself always. Found probing cdp serve: a token of tenant globex narrowed to tokens:manage revoked the tenant's
// admin token (200), locking the tenant out, though creation already refused giving a scope the caller lacks.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, createToken, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** The id and status of `token` as the admin token sees it. */
const details = (url: string, token: string) =>
  Effect.map(call(url, "POST", "/v1/tokens/inspect", TEST_ADMIN_TOKEN, { token }), (r) => r.body.details as { id: string; status: string })

const revoke = (url: string, id: string, by: string) =>
  Effect.map(call(url, "POST", `/v1/tokens/${id}/revoke`, by), (r) => {
    checkResponse("/v1/tokens/{id}/revoke", "POST", r.status, r.body)
    return r
  })

describe("revoking a token", () => {
  it("with a token lacking one of its scopes is 403 missing_scope naming it, and revokes nothing", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const admin = yield* details(url, yield* createToken(url, { role: "admin", tenant: "globex" }))
      const marketer = yield* details(url, yield* createToken(url, { role: "marketer", tenant: "globex" }))
      const manager = yield* createToken(url, { role: "admin", tenant: "globex", scopes: ["tokens:manage"] })
      const peer = yield* details(url, yield* createToken(url, { role: "admin", tenant: "globex", scopes: ["tokens:manage"] }))
      for (const target of [admin, marketer]) {
        const r = yield* revoke(url, target.id, manager)
        expect(r, target.id).toMatchObject({ status: 403, body: { rule: "missing_scope", field: "/id" } })
        expect(r.body.error).toMatch(new RegExp(`^token ${target.id} holds the scope [a-z:-]+, which this token does not hold, so it cannot revoke it`))
        expect((yield* call(url, "GET", `/v1/tokens/${target.id}`, TEST_ADMIN_TOKEN)).body.details.status).toBe("active")
      }
      // One whose scopes are all among its own, and itself.
      expect((yield* revoke(url, peer.id, manager)).status).toBe(200)
      const self = yield* details(url, manager)
      expect((yield* revoke(url, self.id, manager)).status).toBe(200)
      expect((yield* details(url, manager)).status).toBe("revoked")
      // The tenant's admin token still revokes any of the tenant's.
      const admins = yield* createToken(url, { role: "admin", tenant: "globex" })
      expect((yield* revoke(url, marketer.id, admins)).status).toBe(200)
    })), 60_000)

  it("with a token that expires is 403 expiry_beyond_token for one that outlives it; one expiring by then, or itself, is revoked", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const lasting = yield* details(url, yield* createToken(url, { role: "admin", tenant: "globex" }))
      const hour = yield* createToken(url, { role: "admin", tenant: "globex", expires: "1h" })
      const r = yield* revoke(url, lasting.id, hour)
      expect(r).toMatchObject({ status: 403, body: { rule: "expiry_beyond_token", field: "/id" } })
      expect(r.body.error).toMatch(new RegExp(`^token ${lasting.id} never expires, and this token expires at \\d{4}-`))
      expect((yield* call(url, "GET", `/v1/tokens/${lasting.id}`, TEST_ADMIN_TOKEN)).body.details.status).toBe("active")
      const shorter = yield* details(url, yield* createToken(url, { role: "marketer", tenant: "globex", expires: new Date(Date.now() + 1_800_000).toISOString() }))
      expect((yield* revoke(url, shorter.id, hour)).status).toBe(200)
      expect((yield* revoke(url, (yield* details(url, hour)).id, hour)).status).toBe(200)
    })), 60_000)
})
