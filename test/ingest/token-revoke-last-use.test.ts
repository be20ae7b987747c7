// POST /v1/tokens/{id}/revoke answers the token's details as GET /v1/tokens/{id} shows them, its last use included:
// before, the answer built them without the stored last uses, so a token just used said lastUsedAt null.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, createToken, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const detailsOf = (url: string, id: string) =>
  Effect.map(call(url, "GET", `/v1/tokens/${id}`, TEST_ADMIN_TOKEN), (r) => {
    checkResponse("/v1/tokens/{id}", "GET", r.status, r.body)
    return r.body.details as { id: string; status: string; lastUsedAt: string | null }
  })

describe("revoking a token", () => {
  it("answers the same lastUsedAt as GET /v1/tokens/{id}, for a token just used and for one never used", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const used = yield* createToken(url, { role: "marketer", tenant: "acme", scopes: ["profiles:read"] })
      const unused = yield* createToken(url, { role: "marketer", tenant: "acme", scopes: ["profiles:read"] })
      const inspect = (token: string) => Effect.map(call(url, "POST", "/v1/tokens/inspect", TEST_ADMIN_TOKEN, { token }), (r) => r.body.details.id as string)
      const usedId = yield* inspect(used)
      const unusedId = yield* inspect(unused)
      expect((yield* call(url, "GET", "/v1/profiles/user_id:nobody?tenant=acme", used)).status).toBe(404)
      const before = yield* detailsOf(url, usedId)
      expect(before.lastUsedAt).not.toBeNull()
      for (const [id, lastUsedAt] of [[usedId, before.lastUsedAt], [unusedId, null]] as const) {
        const r = yield* call(url, "POST", `/v1/tokens/${id}/revoke`, TEST_ADMIN_TOKEN)
        checkResponse("/v1/tokens/{id}/revoke", "POST", r.status, r.body)
        expect(r.body, id).toMatchObject({ success: true, wasActive: true, details: { id, status: "revoked", lastUsedAt } })
        expect(r.body.details).toEqual(yield* detailsOf(url, id))
      }
    })))
})
