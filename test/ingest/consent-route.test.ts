// GET /v1/consent/{identifier} takes ?tenant= only: any other parameter is refused 400 unknown_parameter naming it
// (as the profile routes do), so a caller asking for consent "as of" a date (?at=, ?asOf=) is told the answer is
// consent now, instead of silently getting today's; a ?purpose= of any value (a NUL, empty) is refused the same way.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi as withCollector } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const CONSENT = "/v1/consent/user_id%3Aann"

describe("the consent route's query parameters", () => {
  it("a parameter other than ?tenant= is refused 400 naming it, before the person is looked up; ?tenant= alone still reads", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      const cases: ReadonlyArray<[string, string]> = [
        ["at=2024-01-01", "at"],
        ["asOf=2024-01-01", "asOf"],
        ["purpose=%00", "purpose"],
        ["purpose=", "purpose"],
        ["purpose=Analytics", "purpose"],
        [`${"x".repeat(3000)}=1`, "x".repeat(80)],
      ]
      for (const [query, field] of cases) {
        const path = `${CONSENT}?tenant=acme&${query}`
        const res = yield* callApi(url, "GET", path, TEST_ADMIN_TOKEN)
        checkResponse("/v1/consent/{identifier}", "GET", res.status, res.body)
        expect(res.status, `${query.slice(0, 40)}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(400)
        expect(res.body).toMatchObject({ success: false, rule: "unknown_parameter", field })
        const error = res.body.error as string
        expect(error.startsWith(`?${field}= is not taken here; this route takes ?tenant=`), error).toBe(true)
        // What the caller wanted instead: consent now, and how to read it on a date.
        expect(error).toContain("consent as it stands now")
        expect(error).toContain("history")
        expect(error.length).toBeLessThan(500)
        expect(error).not.toContain("\n")
      }
      expect((yield* callApi(url, "GET", `${CONSENT}?tenant=acme&purpose=Analytics`, TEST_ADMIN_TOKEN)).body.error).toContain("every purpose")
      const plain = yield* callApi(url, "GET", `${CONSENT}?tenant=acme`, TEST_ADMIN_TOKEN)
      expect(plain).toMatchObject({ status: 404, body: { rule: "profile_not_found" } })
    })), 120_000)
})
