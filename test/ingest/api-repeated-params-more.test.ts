// A query parameter that takes one value, given twice (?since=7d&since=30d), on a real collector (embedded engine):
// URLSearchParams.get would silently take the first, so a client, a proxy and this server could read different values.
// The DSR list, the listening report, the audit log and an audience's members and changes refuse it with 400 naming
// the parameter (api-repeated-params.test.ts covers the paged lists and the profile routes). ?kind= of the audit log
// is a list (comma-separated), so given twice it takes every kind of both.
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { AUDIT_LIST } from "../../ingest/audit-route.ts"
import type { Collector } from "../../ingest/collector.ts"
import { encodePageCursor, listOf } from "../../ingest/pages.ts"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN, withApi as withCollector } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, type PipelineServices, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withApi = <A, E>(program: (url: string) => Effect.Effect<A, E, PipelineServices | Collector | Scope.Scope>) =>
  withCollector(dir, program)

/** The answer is 400 repeated_parameter naming `name`, as openapi.json describes it for `template`. */
const refusedRepeated = (res: { status: number; body: ApiBody }, name: string, template: string, method: string, path: string) => {
  expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(400)
  expect(res.body, path).toMatchObject({ success: false, rule: "repeated_parameter", field: name })
  expect(res.body.error, path).toBe(`?${name}= is given 2 times: give it once`)
  checkResponse(template, method, res.status, res.body)
}

/** [template, path with one value of the parameter, the parameter, its second value] */
type Case = readonly [template: string, single: string, name: string, second: string]

const check = (url: string, cases: ReadonlyArray<Case>, method = "GET", body?: unknown) =>
  Effect.gen(function* () {
    for (const [template, single, name, second] of cases) {
      // The parameter alone is taken: only its repetition is refused.
      const alone = yield* callApi(url, method, single, TEST_ADMIN_TOKEN, body)
      expect(alone.status, `${method} ${single}: ${JSON.stringify(alone.body)}`).toBeLessThan(300)
      const first = single.split(`&${name}=`)[1]!.split("&")[0]!
      for (const path of [`${single}&${name}=${second}`, single.replace(`${name}=${first}`, `${name}=${second}&${name}=${first}`)]) {
        refusedRepeated(yield* callApi(url, method, path, TEST_ADMIN_TOKEN, body), name, template, method, path)
      }
      // The same value twice is refused too: the parameter takes one value.
      const same = `${single}&${name}=${first}`
      refusedRepeated(yield* callApi(url, method, same, TEST_ADMIN_TOKEN, body), name, template, method, same)
    }
  })

describe("a repeated query parameter", () => {
  it("is refused with 400 naming it on the DSR list (?overdue=)", () =>
    withApi((url) => check(url, [["/v1/dsr", "/v1/dsr?tenant=acme&overdue=1", "overdue", "0"]])), 120_000)

  it("is refused with 400 naming it on the listening report, GET and POST (?since=, ?until=, ?alerts=)", () =>
    withApi((url) => Effect.gen(function* () {
      const report = "/v1/listening/report"
      yield* check(url, [
        [report, `${report}?tenant=acme&since=7d`, "since", "30d"],
        [report, `${report}?tenant=acme&until=2099-01-01`, "until", "2098-01-01"],
        [report, `${report}?tenant=acme&alerts=0`, "alerts", "1"],
      ])
      yield* check(url, [
        [report, `${report}?tenant=acme&since=7d`, "since", "30d"],
        [report, `${report}?tenant=acme&until=2099-01-01`, "until", "2098-01-01"],
      ], "POST", {})
    })), 120_000)

  it("is refused with 400 naming it on the audit log (?limit=, ?cursor=, ?since=, ?until=)", () =>
    withApi((url) => check(url, [
      ["/v1/audit", "/v1/audit?tenant=acme&limit=5", "limit", "500"],
      ["/v1/audit", `/v1/audit?tenant=acme&cursor=${encodePageCursor([1], listOf(AUDIT_LIST, "acme"))}`, "cursor", encodePageCursor([2], listOf(AUDIT_LIST, "acme"))],
      ["/v1/audit", "/v1/audit?tenant=acme&since=7d", "since", "30d"],
      ["/v1/audit", "/v1/audit?tenant=acme&until=2030-01-01", "until", "2031-01-01"],
    ])), 120_000)

  it("?kind= of the audit log given twice takes the kinds of both (it is a list), none silently dropped", () =>
    withApi((url) => Effect.gen(function* () {
      expect((yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "access", identifier: "user_id:ann", tenant: "acme" })).status).toBe(201)
      for (const query of ["kind=no.such.kind&kind=dsr.received", "kind=dsr.received&kind=no.such.kind", "kind=no.such.kind,dsr.received"]) {
        const res = yield* callApi(url, "GET", `/v1/audit?tenant=acme&${query}`, TEST_ADMIN_TOKEN)
        expect(res.status, `${query}: ${JSON.stringify(res.body)}`).toBe(200)
        const kinds = (res.body.entries as ReadonlyArray<{ kind: string }>).map((e) => e.kind)
        expect(kinds, query).toContain("dsr.received")
        expect(new Set(kinds), query).toEqual(new Set(["dsr.received"]))
      }
      const bad = yield* callApi(url, "GET", "/v1/audit?tenant=acme&kind=dsr.received&kind=BAD%20KIND", TEST_ADMIN_TOKEN)
      expect(bad.body, JSON.stringify(bad.body)).toMatchObject({ rule: "bad_kind", field: "kind" })
      checkResponse("/v1/audit", "GET", bad.status, bad.body)
    })), 120_000)

  it("is refused with 400 naming it on an audience's members (?limit=, ?after=) and changes (?limit=, ?cursor=)", () =>
    withApi((url) => Effect.gen(function* () {
      const created = yield* callApi(url, "POST", "/v1/audiences", TEST_ADMIN_TOKEN, {
        tenant: "acme", name: "pro", purpose: "EmailMarketing", condition: { trait: "plan", equals: "pro" },
      })
      expect(created.status, JSON.stringify(created.body)).toBe(201)
      const id = (created.body.audience?.id ?? created.body.id) as string
      const members = `/v1/audiences/${id}/members?tenant=acme`
      const changes = `/v1/audiences/${id}/changes?tenant=acme`
      yield* check(url, [
        ["/v1/audiences/{id}/members", `${members}&limit=5`, "limit", "500"],
        // A members cursor holds a profile id, bound to its audience (the page's `next`).
        ["/v1/audiences/{id}/members", `${members}&after=${encodePageCursor(["prof_aaaaaaaaaa"], listOf("members", "acme", id))}`, "after",
          encodePageCursor(["prof_bbbbbbbbbb"], listOf("members", "acme", id))],
        ["/v1/audiences/{id}/changes", `${changes}&limit=5`, "limit", "500"],
        // A changes cursor holds a change's number, bound to its audience (the feed's `cursor`).
        ["/v1/audiences/{id}/changes", `${changes}&cursor=${encodePageCursor(["0"], listOf("changes", "acme", id))}`, "cursor", encodePageCursor(["7"], listOf("changes", "acme", id))],
      ])
    })), 120_000)

  it("?tenant= naming two tenants stays refused by the guard (ingest/auth.ts), on each of these routes", () =>
    withApi((url) => Effect.gen(function* () {
      for (const path of ["/v1/dsr", "/v1/listening/report", "/v1/audit", "/v1/audiences", "/v1/exports", "/v1/identity/suggestions", "/v1/consent/user_id%3Aann", "/v1/tokens"]) {
        const res = yield* callApi(url, "GET", `${path}?tenant=acme&tenant=globex`, TEST_ADMIN_TOKEN)
        expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(400)
        expect(res.body, path).toMatchObject({ rule: "conflicting_tenant", field: "tenant", error: 'the query string names two tenants, "acme" and "globex": name one' })
      }
    })), 120_000)
})
