// The SQL views an analyst queries (`cdp query`, POST /v1/query) never show an address identity refused to a profile as
// a claim as that profile's trait: u10, who stated the e-mail u11 holds, has no traits.email in `profile_traits` nor in
// `profiles` (which reads it), so nobody mails u11's address believing it is u10's; u11 keeps its own, u10 its name.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { landClaim } from "../support/claims.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const traitsOf = (url: string, view: string, user: string) =>
  Effect.gen(function* () {
    const sql = `SELECT traits FROM ${view} WHERE profile_id IN (SELECT profile_id FROM events WHERE user_id = '${user}')`
    const res = yield* callApi(url, "POST", "/v1/query", TEST_ADMIN_TOKEN, { sql, tenant: "acme" })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    const rows = res.body["rows"] as Array<{ traits: Record<string, string> }>
    expect(rows, `${view} ${user}`).toHaveLength(1)
    return rows[0]!.traits
  })

describe("the analyst views of a user who stated another person's e-mail", () => {
  it("profile_traits and profiles give the claimant no e-mail trait, its holder its own, and the claimant's other traits", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landClaim(url)
      for (const view of ["profile_traits", "profiles"]) {
        const u10 = yield* traitsOf(url, view, "u10")
        const u11 = yield* traitsOf(url, view, "u11")
        expect(u10["email"], view).toBeUndefined()
        expect(u10["name"], view).toBe("\"Ten\"")
        expect(u11["email"], view).toBe("\"X@Example.com\"")
        expect(u11["name"], view).toBe("\"Eleven\"")
      }
    })), 60_000)
})
