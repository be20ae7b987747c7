// POST /v1/listening/report takes since, until and tenant in the body or the query string. Given in both with
// different values, the body silently won (?since=30d with {"since": "7d"} reported 7 days): a client, a proxy and this
// server could read different periods. It is refused 400 naming the field and both values; the same value in both is
// taken. A tenant named twice is the guard's (ingest/auth.ts): conflicting_tenant, checked here, not duplicated.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checked } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const REPORT = "/v1/listening/report"
const post = (url: string, path: string, body: unknown) =>
  Effect.map(callApi(url, "POST", path, TEST_ADMIN_TOKEN, body), (res) => checked(path, "POST", res))

describe("POST /v1/listening/report with a parameter in the body and in the query string", () => {
  it("is refused 400 conflicting_parameter naming the field and both values when they differ; the same value is taken", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const cases = [
        ["since", `${REPORT}?tenant=acme&since=30d`, { since: "7d" }, 'since is given in the body ("7d") and in the query string ("30d"): give it once'],
        ["until", `${REPORT}?tenant=acme&until=2098-01-01`, { until: "2099-01-01" },
          'until is given in the body ("2099-01-01") and in the query string ("2098-01-01"): give it once'],
      ] as const
      for (const [field, path, body, error] of cases) {
        const res = yield* post(url, path, body)
        expect(res.status, `${path} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`).toBe(400)
        expect(res.body).toEqual({ success: false, rule: "conflicting_parameter", field, error })
      }
      const same = yield* post(url, `${REPORT}?tenant=acme&since=30d&until=2099-01-01`, { since: "30d", until: "2099-01-01", tenant: "acme" })
      expect(same.status, JSON.stringify(same.body)).toBe(200)
      expect(same.body.report).toMatchObject({ tenant: "acme" })
      const tenants = yield* post(url, `${REPORT}?tenant=acme`, { tenant: "globex" })
      expect(tenants.status).toBe(400)
      expect(tenants.body).toEqual({ success: false, rule: "conflicting_tenant", field: "/tenant",
        error: 'the body names tenant "globex" and the path or query string "acme": name one' })
    })), 120_000)
})
