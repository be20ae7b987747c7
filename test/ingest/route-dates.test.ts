// Dates that are not on the calendar given to the HTTP routes are refused 400 naming the parameter and the date, never
// rolled over (Date.parse reads 2024-02-30 as 1 March), and a period whose end is not after its start is refused
// naming both ends; relative forms (7d, 24h, 30d) keep working.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const get = (url: string, path: string) => callApi(url, "GET", path, TEST_ADMIN_TOKEN)

const expectRefused = (res: { status: number; body: Record<string, unknown> }, field: string, message: string) => {
  expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(400)
  expect(res.body["field"]).toBe(field)
  expect(res.body["error"]).toBe(message)
}

describe("dates given to the HTTP routes", () => {
  it("GET /v1/listening/report refuses a since or until off the calendar, and an until not after since, naming both", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      expectRefused(yield* get(url, "/v1/listening/report?since=2024-02-30"), "since", "since: 2024-02-30 is not a day on the calendar")
      expectRefused(yield* get(url, "/v1/listening/report?since=2024-02-01&until=2023-02-29T10:00:00Z"), "until",
        "until: 2023-02-29 is not a day on the calendar")
      expectRefused(yield* get(url, "/v1/listening/report?since=2024-09-10&until=2024-09-01"), "until",
        "until: 2024-09-01 must be after since (2024-09-10)")
      expect((yield* get(url, "/v1/listening/report?since=2024-02-29&until=2024-03-01")).status).toBe(200)
      expect((yield* get(url, "/v1/listening/report?since=7d")).status).toBe(200)
    })), 120_000)

  it("GET /v1/audit refuses a since or until off the calendar, and an until not after since, naming both", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      expectRefused(yield* get(url, "/v1/audit?since=2024-02-30"), "since", "since: 2024-02-30 is not a day on the calendar")
      expectRefused(yield* get(url, "/v1/audit?until=2024-04-31T12:00:00Z"), "until", "until: 2024-04-31 is not a day on the calendar")
      expectRefused(yield* get(url, "/v1/audit?since=2024-09-10&until=2024-09-01"), "until", "until: 2024-09-01 must be after since (2024-09-10)")
      expect((yield* get(url, "/v1/audit?since=2024-02-29")).status).toBe(200)
      expect((yield* get(url, "/v1/audit?since=7d")).status).toBe(200)
    })), 120_000)

  it("POST /v1/tokens refuses an expiry off the calendar instead of moving it to March", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const bad = yield* callApi(url, "POST", "/v1/tokens", TEST_ADMIN_TOKEN, { role: "marketer", tenant: "acme", expires: "2027-02-30" })
      expectRefused(bad, "/expires", "expires: 2027-02-30 is not a day on the calendar")
      const leap = yield* callApi(url, "POST", "/v1/tokens", TEST_ADMIN_TOKEN, { role: "marketer", tenant: "acme", expires: "2028-02-29" })
      expect(leap.status, JSON.stringify(leap.body)).toBe(201)
      expect(leap.body["details"].expiresAt).toBe("2028-02-29T00:00:00.000Z")
      const relative = yield* callApi(url, "POST", "/v1/tokens", TEST_ADMIN_TOKEN, { role: "marketer", tenant: "acme", expires: "30d" })
      expect(relative.status, JSON.stringify(relative.body)).toBe(201)
    })), 120_000)

  it("GET /v1/profiles/{id}/events refuses since or until off the calendar (year 0000 too), and an until not after since", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const events = "/v1/profiles/user_id%3Au1/events"
      expectRefused(yield* get(url, `${events}?since=2024-02-30`), "since", "since: 2024-02-30 is not a day on the calendar")
      expectRefused(yield* get(url, `${events}?since=0000-01-01`), "since", "since: 0000-01-01 is not a day on the calendar")
      expectRefused(yield* get(url, `${events}?until=2023-02-29T00:00:00Z`), "until", "until: 2023-02-29 is not a day on the calendar")
      expectRefused(yield* get(url, `${events}?since=2024-09-10&until=2024-09-01`), "until", "until: 2024-09-01 must be after since (2024-09-10)")
      expect((yield* get(url, `${events}?since=2024-02-29`)).status).not.toBe(400)
    })), 120_000)
})
