// A suggestion is listed only if it can be accepted: both its profiles still hold an identifier a link can name.
// Found probing cdp serve: after both identifiers of one of two look-alike profiles were split from linking, the pair
// was still listed (GET /v1/identity/suggestions), and accepting it answered 404 unknown_suggestion.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, landBatch, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const suggested = (url: string) =>
  Effect.map(call(url, "GET", "/v1/identity/suggestions?tenant=acme", ADMIN), (r) => {
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    return r.body.suggestions as Array<{ id: string }>
  })

describe("a suggestion whose profile holds no linkable identifier", () => {
  it("is not listed, and accepting it by id is the 404 of a suggestion that is not open", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landBatch(url, [
        { type: "identify", userId: "u1", traits: { name: "Quinn Brennan", email: "quinn.brennan@x.example" }, messageId: "m1", timestamp: "2024-10-01T10:00:00Z" },
        { type: "identify", userId: "u2", traits: { name: "Quinn Brennan", email: "quinn_brennan@x.example" }, messageId: "m2", timestamp: "2024-10-01T11:00:00Z" },
      ], { identifier: "user_id:u2", events: 1 })
      const [first] = yield* suggested(url)
      expect(first).toBeDefined()
      for (const identifier of ["user_id:u2", "email:quinn_brennan@x.example"]) {
        const split = yield* call(url, "POST", "/v1/identity/split", ADMIN, { identifier, reason: "a shared login", tenant: "acme" })
        expect(split.status, JSON.stringify(split.body)).toBe(200)
      }
      expect(yield* suggested(url)).toEqual([])
      const accepted = yield* call(url, "POST", `/v1/identity/suggestions/${first!.id}/accept`, ADMIN, { reason: "same person", tenant: "acme" })
      expect(accepted, JSON.stringify(accepted.body)).toMatchObject({ status: 404, body: { rule: "unknown_suggestion", field: "/id" } })
      // Still held apart from linking, the other profile's identifiers are as they were.
      const links = yield* call(url, "POST", "/v1/query", ADMIN, { sql: "SELECT count() AS n FROM identity_operations WHERE kind = 'link'", tenant: "acme" })
      expect(links.body.rows, JSON.stringify(links.body)).toEqual([{ n: "0" }])
    })), 60_000)
})
