// A suggestion of two profiles an operator kept apart cannot be accepted. Found probing cdp serve: a suggestion
// accepted, then its two user ids separated (POST /v1/identity/separate), is listed again (to be dismissed); accepting
// it again answered 200 with a link recorded and a rebuild that merged nothing (the separation wins), and the
// suggestion stayed listed, to be "accepted" again without end.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { landLookAlikes, openSuggestions } from "../support/look-alikes.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))


describe("suggestions and separations", () => {
  it("accepting a suggestion of two separated profiles is 409 saying so, records nothing, and dismissing it hides it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landLookAlikes(url)
      const [first] = yield* openSuggestions(url)
      expect(first).toBeDefined()
      const accepted = yield* call(url, "POST", `/v1/identity/suggestions/${first!.id}/accept`, ADMIN, { reason: "same person", tenant: "acme" })
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(200)
      const separated = yield* call(url, "POST", "/v1/identity/separate", ADMIN, { a: "user_id:u1", b: "user_id:u2", reason: "two people", tenant: "acme" })
      expect(separated.status, JSON.stringify(separated.body)).toBe(200)
      expect((yield* openSuggestions(url)).map((s) => s.id)).toEqual([first!.id])
      const again = yield* call(url, "POST", `/v1/identity/suggestions/${first!.id}/accept`, ADMIN, { reason: "again", tenant: "acme" })
      expect(again, JSON.stringify(again.body)).toMatchObject({ status: 409, body: { rule: "suggestion_kept_apart", field: "/id" } })
      expect(again.body.error).toContain("dismiss it")
      const links = yield* call(url, "POST", "/v1/query", ADMIN, { sql: "SELECT count() AS n FROM identity_operations WHERE kind = 'link'", tenant: "acme" })
      expect(links.body.rows, JSON.stringify(links.body)).toEqual([{ n: "1" }])
      const dismissed = yield* call(url, "POST", `/v1/identity/suggestions/${first!.id}/dismiss`, ADMIN, { reason: "two people", tenant: "acme" })
      expect(dismissed.status, JSON.stringify(dismissed.body)).toBe(200)
      expect(yield* openSuggestions(url)).toEqual([])
    })), 60_000)
})
