// GET and POST /v1/listening/report take ?since=, ?until=, ?alerts= and ?tenant=. Anything else was silently ignored
// (?format=html answered the JSON report; a misspelt ?sinse=30d the default 7 days), while the POST body refuses an
// unknown field: a caller could not tell its parameter had no effect. It is refused 400 unknown_parameter naming it.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checked } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const REPORT = "/v1/listening/report"
const call = (url: string, method: "GET" | "POST", path: string) =>
  Effect.map(callApi(url, method, path, TEST_ADMIN_TOKEN, method === "POST" ? {} : undefined), (res) => checked(path, method, res))

describe("/v1/listening/report with a query parameter it does not take", () => {
  it("is refused 400 unknown_parameter naming it; the parameters it takes still work", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      for (const [method, path, name] of [
        ["GET", `${REPORT}?format=html`, "format"],
        ["GET", `${REPORT}?tenant=acme&sinse=30d`, "sinse"],
        ["POST", `${REPORT}?${"x".repeat(500)}=1`, "x".repeat(80)],
      ] as const) {
        const res = yield* call(url, method, path)
        expect(res.status, `${method} ${path.slice(0, 60)}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(400)
        expect(res.body).toEqual({
          success: false, rule: "unknown_parameter", field: name,
          error: `?${name}= is not taken here; this route takes ?since=, ?until=, ?alerts=`,
        })
      }
      const ok = yield* call(url, "GET", `${REPORT}?tenant=acme&since=30d&until=2099-01-01&alerts=0`)
      expect(ok.status, JSON.stringify(ok.body).slice(0, 300)).toBe(200)
    })), 120_000)

  it("says once what a period is, naming the field as the caller gave it (query string or body)", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const get = yield* call(url, "GET", `${REPORT}?since=abc`)
      expect(get.status).toBe(400)
      expect(get.body).toEqual({
        success: false, rule: "bad_since", field: "since",
        error: '?since=: "abc" is not a period: use 7d, 2w, 24h, a date (2024-10-01) or an ISO time (2024-10-01T12:00:00Z)',
      })
      // A start in the future answered an empty report, as if nothing had been said.
      const future = yield* call(url, "GET", `${REPORT}?since=2099-01-01`)
      expect(future.status).toBe(400)
      expect(future.body).toMatchObject({ success: false, rule: "bad_since", field: "since" })
      expect(String((future.body as { error: string }).error)).toMatch(/^\?since=: "2099-01-01" is in the future \(it is \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ now\): the period must start at or before now/)
      const postedFuture = yield* Effect.map(callApi(url, "POST", REPORT, TEST_ADMIN_TOKEN, { since: "2099-01-01T00:00:00Z" }), (res) => checked(REPORT, "POST", res))
      expect(postedFuture.status).toBe(400)
      expect(postedFuture.body).toMatchObject({ success: false, rule: "bad_since", field: "/since" })
      expect(String((postedFuture.body as { error: string }).error)).toContain('"since": "2099-01-01T00:00:00Z" is in the future')
      // A period of 127 years answered 46,000 rows of days (5.6 MB): at most 3,660 days.
      const long = yield* call(url, "GET", `${REPORT}?since=1900-01-01&until=2000-01-01`)
      expect(long.status).toBe(400)
      expect(long.body).toEqual({
        success: false, rule: "bad_since", field: "since",
        error: "?since=: the period is 36525 days; a report covers at most 3660 days (10 years): give a later since, or an until",
      })
      expect((yield* call(url, "GET", `${REPORT}?since=2000-01-01&until=2010-01-01`)).status).toBe(200)
      // Days after today without mentions are not listed (until=2299-12-31 answered 100,000 empty days, 12 MB).
      const far = yield* call(url, "GET", `${REPORT}?since=7d&until=2299-12-31`)
      expect(far.status).toBe(200)
      const days = (far.body as { report: { days: Array<{ day: string }> } }).report.days
      expect(days.length).toBeLessThanOrEqual(8)
      expect(days.at(-1)!.day).toBe(new Date().toISOString().slice(0, 10))
      const posted = yield* Effect.map(callApi(url, "POST", REPORT, TEST_ADMIN_TOKEN, { until: "later" }), (res) => checked(REPORT, "POST", res))
      expect(posted.status).toBe(400)
      expect(posted.body).toEqual({
        success: false, rule: "bad_until", field: "/until",
        error: '"until": "later" is not a period: use 7d, 2w, 24h, a date (2024-10-01) or an ISO time (2024-10-01T12:00:00Z)',
      })
    })), 120_000)
})
