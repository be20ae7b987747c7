// A token never makes one that outlives it. Found probing cdp serve: an admin token of tenant globex made to expire in
// an hour (POST /v1/tokens {"role": "admin", "tenant": "globex", "expires": "1h"}) made, with itself, a token that never
// expires and one expiring in 2299 (201 each): whoever held the hour's token for the hour kept the tenant for good.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, createToken, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a token made by a token that expires", () => {
  it("must expire by then: none or a later expiry is 403 naming /expires; an earlier one is made", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const hour = yield* createToken(url, { role: "admin", tenant: "globex", expires: "1h" })
      for (const request of [{ role: "admin" }, { role: "marketer", expires: "2299-01-01" }, { role: "marketer", expires: "2h" }]) {
        const r = yield* call(url, "POST", "/v1/tokens", hour, request)
        expect(r, JSON.stringify(request)).toMatchObject({ status: 403, body: { rule: "expiry_beyond_token", field: "/expires" } })
        expect(r.body.error).toContain("expires at")
      }
      const listed = yield* call(url, "GET", "/v1/tokens", hour)
      expect(listed.body.tokens).toHaveLength(1)
      const shorter = yield* call(url, "POST", "/v1/tokens", hour, { role: "marketer", expires: new Date(Date.now() + 1_800_000).toISOString() })
      expect(shorter.status, JSON.stringify(shorter.body)).toBe(201)
      // A token that never expires (and the admin token) may make any.
      const lasting = yield* createToken(url, { role: "admin", tenant: "globex" })
      expect((yield* call(url, "POST", "/v1/tokens", lasting, { role: "marketer" })).status).toBe(201)
    })), 60_000)
})
