// Data-subject requests of one tenant cannot hold up another's. Found probing cdp serve: 200 access requests of
// tenant acme posted at once all ran together, and one request of globex posted after them answered in 785 s.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const access = (url: string, tenant: string, i: number) =>
  callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "access", identifier: `email:person${i}@${tenant}.example`, tenant })

describe("data-subject requests at once", () => {
  it("a tenant's requests past its running limit are refused 429 naming the limit, recorded nowhere, while another tenant's run", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const [acme, globex] = yield* Effect.all([
        Effect.all(Array.from({ length: 8 }, (_, i) => access(url, "acme", i)), { concurrency: "unbounded" }),
        Effect.sleep("50 millis").pipe(Effect.andThen(access(url, "globex", 0))),
      ], { concurrency: "unbounded" })
      const busy = acme.filter((r) => r.status === 429)
      expect(acme.filter((r) => r.status === 201).length).toBeGreaterThanOrEqual(2)
      expect(busy.length).toBeGreaterThanOrEqual(1)
      expect(busy[0]!.body).toMatchObject({ success: false, rule: "dsr_busy" })
      expect(String(busy[0]!.body["error"])).toContain("tenant acme already has 2 data-subject requests running")
      expect(globex).toMatchObject({ status: 201, body: { request: { tenant: "globex", status: "completed" } } })
      // A refused request was never received: the list holds the ones that ran.
      const listed = yield* callApi(url, "GET", "/v1/dsr?tenant=acme", TEST_ADMIN_TOKEN)
      expect(listed.body["requests"]).toHaveLength(acme.filter((r) => r.status === 201).length)
    })), 120_000)
})
