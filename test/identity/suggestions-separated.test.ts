// A suggestion of two profiles an operator kept apart cannot be accepted. Found probing cdp serve: a suggestion
// accepted, then its two user ids separated (POST /v1/identity/separate), is listed again (to be dismissed); accepting
// it again answered 200 with a link recorded and a rebuild that merged nothing (the separation wins), and the
// suggestion stayed listed, to be "accepted" again without end.
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

describe("suggestions and separations", () => {
  it("accepting a suggestion of two separated profiles is 409 saying so, records nothing, and dismissing it hides it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landBatch(url, [
        { type: "identify", userId: "u1", traits: { name: "Quinn Brennan", email: "quinn.brennan@x.example" }, messageId: "m1", timestamp: "2024-10-01T10:00:00Z" },
        { type: "identify", userId: "u2", traits: { name: "Quinn Brennan", email: "quinn_brennan@x.example" }, messageId: "m2", timestamp: "2024-10-01T11:00:00Z" },
      ], { identifier: "user_id:u2", events: 1 })
      const [first] = yield* suggested(url)
      expect(first).toBeDefined()
      const accepted = yield* call(url, "POST", `/v1/identity/suggestions/${first!.id}/accept`, ADMIN, { reason: "same person", tenant: "acme" })
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(200)
      const separated = yield* call(url, "POST", "/v1/identity/separate", ADMIN, { a: "user_id:u1", b: "user_id:u2", reason: "two people", tenant: "acme" })
      expect(separated.status, JSON.stringify(separated.body)).toBe(200)
      expect((yield* suggested(url)).map((s) => s.id)).toEqual([first!.id])
      const again = yield* call(url, "POST", `/v1/identity/suggestions/${first!.id}/accept`, ADMIN, { reason: "again", tenant: "acme" })
      expect(again, JSON.stringify(again.body)).toMatchObject({ status: 409, body: { rule: "suggestion_kept_apart", field: "/id" } })
      expect(again.body.error).toContain("dismiss it")
      const links = yield* call(url, "POST", "/v1/query", ADMIN, { sql: "SELECT count() AS n FROM identity_operations WHERE kind = 'link'", tenant: "acme" })
      expect(links.body.rows, JSON.stringify(links.body)).toEqual([{ n: "1" }])
      const dismissed = yield* call(url, "POST", `/v1/identity/suggestions/${first!.id}/dismiss`, ADMIN, { reason: "two people", tenant: "acme" })
      expect(dismissed.status, JSON.stringify(dismissed.body)).toBe(200)
      expect(yield* suggested(url)).toEqual([])
    })), 60_000)
})
