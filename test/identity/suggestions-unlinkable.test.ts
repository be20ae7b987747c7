// A suggestion is listed only if it can be accepted: both its profiles still hold an identifier a link can name.
// Found probing cdp serve: after both identifiers of one of two look-alike profiles were split from linking, the pair
// was still listed (GET /v1/identity/suggestions), and accepting it answered 404 unknown_suggestion. Accepting it from a
// list shown before is 409 suggestion_replaced, saying why (suggestions-stale).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { landLookAlikes, openSuggestions } from "../support/look-alikes.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))


describe("a suggestion whose profile holds no linkable identifier", () => {
  it("is not listed, and accepting it by id is 409 suggestion_replaced", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landLookAlikes(url)
      const [first] = yield* openSuggestions(url)
      expect(first).toBeDefined()
      for (const identifier of ["user_id:u2", "email:quinn_brennan@x.example"]) {
        const split = yield* call(url, "POST", "/v1/identity/split", ADMIN, { identifier, reason: "a shared login", tenant: "acme" })
        expect(split.status, JSON.stringify(split.body)).toBe(200)
      }
      expect(yield* openSuggestions(url)).toEqual([])
      const accepted = yield* call(url, "POST", `/v1/identity/suggestions/${first!.id}/accept`, ADMIN, { reason: "same person", tenant: "acme" })
      expect(accepted, JSON.stringify(accepted.body)).toMatchObject({ status: 409, body: { rule: "suggestion_replaced", field: "/id" } })
      // Still held apart from linking, the other profile's identifiers are as they were.
      const links = yield* call(url, "POST", "/v1/query", ADMIN, { sql: "SELECT count() AS n FROM identity_operations WHERE kind = 'link'", tenant: "acme" })
      expect(links.body.rows, JSON.stringify(links.body)).toEqual([{ n: "0" }])
    })), 60_000)
})
