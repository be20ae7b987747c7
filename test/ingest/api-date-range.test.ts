// A date the warehouse cannot hold (every time column is a DateTime64: 1900-01-01 to 2299-12-31) given to the HTTP
// routes is refused 400 naming the parameter and the range, on a real collector (embedded engine); the days at both
// ends are taken, and openapi.json describes every answer and states the rule of each date parameter.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse, OPENAPI, templateOf } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const RANGE = "(dates run from 1900-01-01 to 2299-12-31)"

const get = (url: string, path: string) =>
  Effect.map(callApi(url, "GET", path, TEST_ADMIN_TOKEN), (res) => {
    checkResponse(templateOf(path), "GET", res.status, res.body)
    return res
  })

const refused = (res: { status: number; body: ApiBody }, field: string, message: string) => {
  expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(400)
  expect(res.body.field).toBe(field)
  expect(res.body.error).toBe(message)
}

const before = (field: string, date: string) => `${field}: ${date} is before 1900-01-01, the earliest day the warehouse holds ${RANGE}`
const after = (field: string, date: string) => `${field}: ${date} is after 2299-12-31, the latest day the warehouse holds ${RANGE}`

/** The routes taking since and until, with the path to add ?since= or &since= to. */
const ROUTES = ["/v1/profiles/user_id%3Au1/events?tenant=acme", "/v1/listening/report?tenant=acme", "/v1/audit?tenant=acme"]

describe("a date the warehouse cannot hold", () => {
  it("is refused as since or until on the timeline, listening and audit routes; the first and last days it holds are taken", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      for (const route of ROUTES) {
        refused(yield* get(url, `${route}&since=0001-01-01`), "since", before("since", "0001-01-01"))
        refused(yield* get(url, `${route}&since=1899-12-31`), "since", before("since", "1899-12-31"))
        refused(yield* get(url, `${route}&since=1850-06-15T10:00:00Z`), "since", before("since", "1850-06-15"))
        // An offset can put the first day's midnight into 1899.
        refused(yield* get(url, `${route}&since=${encodeURIComponent("1900-01-01T00:00:00+01:00")}`), "since", before("since", "1900-01-01T00:00:00+01:00"))
        refused(yield* get(url, `${route}&since=2024-01-01&until=2300-01-01`), "until", after("until", "2300-01-01"))
        // 404 for the timeline (nobody has events yet), 200 for the others: the range's own first and last days are
        // taken. Apart: a listening report spans at most 10 years (77fa84e).
        for (const period of ["since=1900-01-01&until=1900-01-02", "since=2024-01-01&until=2299-12-31"]) {
          const taken = yield* get(url, `${route}&${period}`)
          expect(taken.status, `${route}&${period}: ${JSON.stringify(taken.body).slice(0, 300)}`).not.toBe(400)
        }
      }
    })), 120_000)

  it("is refused inside a forged timeline cursor instead of paging from wherever the engine wraps it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const cursor = (ms: number) => Buffer.from(JSON.stringify([ms, "m1"])).toString("base64url")
      const events = "/v1/profiles/user_id%3Au1/events?tenant=acme"
      const message = "cursor: is not a cursor this API gave (pass nextCursor of the previous page as it is)"
      for (const ms of [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Date.UTC(2300, 0, 1), Date.UTC(1899, 11, 31)]) {
        refused(yield* get(url, `${events}&cursor=${cursor(ms)}`), "cursor", message)
      }
      // The range's own ends are times a row can have (404: nobody has events yet).
      for (const ms of [Date.UTC(1900, 0, 1), Date.UTC(2299, 11, 31, 23, 59, 59, 999), -1, 0]) {
        expect((yield* get(url, `${events}&cursor=${cursor(ms)}`)).status).toBe(404)
      }
    })), 120_000)

  it("is refused as a token's expiry", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      refused(yield* callApi(url, "POST", "/v1/tokens", TEST_ADMIN_TOKEN, { role: "marketer", tenant: "acme", expires: "2300-01-01" }), "/expires", after("expires", "2300-01-01"))
      const last = yield* callApi(url, "POST", "/v1/tokens", TEST_ADMIN_TOKEN, { role: "marketer", tenant: "acme", expires: "2299-12-31" })
      expect(last.status, JSON.stringify(last.body)).toBe(201)
      expect(last.body.details.expiresAt).toBe("2299-12-31T00:00:00.000Z")
    })), 120_000)

  it("openapi.json states the rule of every date query parameter", () => {
    const dated = Object.entries(OPENAPI.paths).flatMap(([path, ops]) => Object.entries(ops).flatMap(([method, op]) =>
      ((op as { parameters?: Array<{ name: string; in: string; description?: string; schema?: Record<string, unknown> }> }).parameters ?? [])
        .filter((p) => p.in === "query" && (p.name === "since" || p.name === "until"))
        .map((p) => ({ at: `${method} ${path} ${p.name}`, p }))))
    expect(dated.map((d) => d.at).sort()).toEqual([
      "get /v1/audit since", "get /v1/audit until", "get /v1/dead-letters since", "get /v1/listening/report since", "get /v1/listening/report until",
      "get /v1/profiles/{identifier}/events since", "get /v1/profiles/{identifier}/events until",
    ])
    for (const { at, p } of dated) {
      expect(p.description, at).toContain("1900-01-01 to 2299-12-31")
      expect(typeof p.schema?.["pattern"], at).toBe("string")
      const pattern = new RegExp(p.schema!["pattern"] as string, "u")
      expect(pattern.test("2024-10-01"), at).toBe(true)
      expect(pattern.test("2024-10-01T12:00:00Z"), at).toBe(true)
      expect(pattern.test("1899-12-31"), at).toBe(false)
      expect(pattern.test("2300-01-01"), at).toBe(false)
      expect(pattern.test("0001-01-01"), at).toBe(false)
    }
  })
})
