// The relationship scores over HTTP on a real collector (embedded engine): an admin computes, a marketer reads the
// summary, the report and one profile's evidence, every answer as openapi.json describes it; a marketer may not
// compute, a bound token reads only its tenant, and every wrong parameter is a 400 naming it.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, createToken, followOperation, landBatch, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { checked } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** Two people of tenant acme (the test write key's): ann, who orders and praises, and bob, who only visits once. */
const seed = (url: string) =>
  Effect.gen(function* () {
    const batch = [
      { type: "identify", userId: "ann", messageId: "a0", timestamp: "2024-09-02T10:00:00Z", traits: { email: "ann@acme.example" } },
      ...Array.from({ length: 6 }, (_, i) => ({
        type: "track", userId: "ann", messageId: `a${i + 1}`, event: i % 2 === 0 ? "Order Completed" : "Page Viewed",
        timestamp: `2024-10-${String(1 + i * 4).padStart(2, "0")}T10:00:00Z`, properties: { total: 40 },
      })),
      { type: "page", anonymousId: "bob-browser", messageId: "b1", timestamp: "2024-09-03T10:00:00Z", name: "Home" },
    ]
    yield* landBatch(url, batch, { identifier: "user_id:ann", events: 7 })
  })

const token = createToken

describe("/v1/relations", () => {
  it("an admin computes; a marketer reads summary, report and evidence as openapi.json says, and may not compute", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const marketer = yield* token(url, { role: "marketer", tenant: "acme" })
      const none = checked("/v1/relations/summary", "GET", yield* call(url, "GET", "/v1/relations/summary?tenant=acme", marketer))
      expect(none).toMatchObject({ status: 404, body: { rule: "no_relations" } })

      const denied = checked("/v1/relations/compute", "POST", yield* call(url, "POST", "/v1/relations/compute", marketer, { asOf: "2024-11-01" }))
      expect(denied).toMatchObject({ status: 403, body: { rule: "missing_scope" } })
      expect(denied.body.error).toContain("relations:write")

      const first = checked("/v1/relations/compute", "POST", yield* call(url, "POST", "/v1/relations/compute", ADMIN, { tenant: "acme", asOf: "2024-10-01", wait: true }))
      expect(first.status, JSON.stringify(first.body)).toBe(200)
      const run = checked("/v1/relations/compute", "POST", yield* call(url, "POST", "/v1/relations/compute", ADMIN, { tenant: "acme", asOf: "2024-11-01", wait: true }))
      expect(run.body).toMatchObject({ success: true, tenant: "acme", asOf: "2024-11-01", profiles: 2 })
      expect(Object.values(run.body.byType as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(2)

      const summary = checked("/v1/relations/summary", "GET",
        yield* call(url, "GET", "/v1/relations/summary?tenant=acme&from=2024-10-01&to=2024-11-01&limit=1", marketer))
      expect(summary.status, JSON.stringify(summary.body)).toBe(200)
      expect(summary.body).toMatchObject({ tenant: "acme", from: "2024-10-01", to: "2024-11-01" })
      expect((summary.body.changed as Array<unknown>).length).toBeLessThanOrEqual(1)
      expect(summary.body.changedTotal).toBeGreaterThanOrEqual((summary.body.changed as Array<unknown>).length)
      const distribution = summary.body.distribution as Array<{ to: number }>
      expect(distribution.reduce((a, d) => a + d.to, 0)).toBe(2)

      const report = checked("/v1/relations/report", "GET",
        yield* call(url, "GET", "/v1/relations/report?tenant=acme&from=2024-09-30&to=2024-11-03&every=week", marketer))
      expect(report.status, JSON.stringify(report.body)).toBe(200)
      const periods = report.body.periods as Array<{ source: string; asOf: string | null; profiles: number }>
      expect(periods.filter((p) => p.source === "stored").map((p) => p.asOf)).toEqual(["2024-10-01", "2024-11-01"])
      expect(periods.every((p) => p.source !== "computed")).toBe(true)

      const explain = checked("/v1/relations/explain/x", "GET",
        yield* call(url, "GET", `/v1/relations/explain/${encodeURIComponent("email:ann@acme.example")}?tenant=acme`, marketer))
      expect(explain.status, JSON.stringify(explain.body)).toBe(200)
      expect(explain.body).toMatchObject({ asOf: "2024-11-01" })
      expect((explain.body.factors as Array<string>).join(" ")).toMatch(/order/)
      const older = yield* call(url, "GET", `/v1/relations/explain/user_id:ann?tenant=acme&asOf=2024-10-01`, marketer)
      expect(older).toMatchObject({ status: 200, body: { asOf: "2024-10-01", profileId: explain.body.profileId } })
    })), 120_000)

  it("refuses another tenant, wrong parameters and an unknown person, each naming what is wrong", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      expect((yield* call(url, "POST", "/v1/relations/compute", ADMIN, { tenant: "acme", asOf: "2024-11-01", wait: true })).status).toBe(200)
      const marketer = yield* token(url, { role: "marketer", tenant: "acme" })
      const refused = (path: string, status: number, rule: string, field?: string) =>
        Effect.gen(function* () {
          const method = path.startsWith("POST ") ? "POST" : "GET"
          const [target, body] = method === "POST" ? [path.slice(5).split(" ", 1)[0]!, JSON.parse(path.slice(5).split(" ").slice(1).join(" ")) as unknown] : [path, undefined]
          const res = checked(target, method, yield* call(url, method, target, method === "POST" ? ADMIN : marketer, body))
          expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(status)
          expect(res.body.rule, path).toBe(rule)
          if (field !== undefined) expect(res.body.field, path).toBe(field)
        })
      yield* refused("/v1/relations/summary?tenant=globex", 403, "tenant_forbidden", "tenant")
      yield* refused("/v1/tenants/globex/relations/report", 403, "tenant_forbidden", "path")
      yield* refused("/v1/relations/summary?from=2024-02-30", 400, "bad_from", "from")
      yield* refused("/v1/relations/summary?to=2024-11-01&to=2024-12-01", 400, "repeated_parameter", "to")
      yield* refused("/v1/relations/explain/user_id:ann?asOf=1899-12-31", 400, "bad_asOf", "asOf")
      yield* refused("/v1/relations/summary?from=2024-11-01&to=2024-10-01", 400, "bad_period", "from")
      yield* refused("/v1/relations/summary?limit=-1", 400, "bad_limit", "limit")
      yield* refused("/v1/relations/summary?since=7d", 400, "unknown_parameter", "since")
      yield* refused("/v1/relations/report?every=fortnight", 400, "bad_every", "every")
      yield* refused("/v1/relations/report?computeMissing=true", 400, "compute_missing_not_served", "computeMissing")
      yield* refused("/v1/relations/report?from=2020-01-01&to=2024-10-01&every=day", 400, "bad_period", "every")
      yield* refused("/v1/relations/explain/email:nobody@acme.example", 404, "profile_not_found")
      yield* refused("/v1/relations/explain/user_id:ann?asOf=2024-10-15", 404, "profile_not_scored")
      yield* refused("/v1/relations/explain/%E0%A4%A", 400, "bad_identifier", "/identifier")
      yield* refused('POST /v1/relations/compute {"tenant":"acme","asOf":"2024-13-01"}', 400, "bad_asOf", "/asOf")
      yield* refused('POST /v1/relations/compute {"tenant":"acme","when":"2024-11-01"}', 400, "bad_body", "/when")
      yield* refused('POST /v1/relations/compute {"tenant":"acme","wait":"yes"}', 400, "bad_body", "/wait")
      yield* refused("/v1/relations/compute?tenant=acme&run=1", 400, "unknown_parameter", "run")
      // A PUT on compute, or a POST on a read, is 405 naming the methods to use.
      const wrongMethod = yield* call(url, "PUT", "/v1/relations/compute?tenant=acme", ADMIN, {})
      expect(wrongMethod).toMatchObject({ status: 405, body: { rule: "method_not_allowed" }, headers: { allow: "GET, POST" } })
      expect((yield* call(url, "GET", "/v1/relations/nothing?tenant=acme", marketer))).toMatchObject({ status: 404, body: { rule: "not_found" } })
    })), 120_000)

  it("a compute runs in the background: POST answers 202 with where to follow it, GET follows it until its run", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const marketer = yield* token(url, { role: "marketer", tenant: "acme" })
      const nothing = checked("/v1/relations/compute", "GET", yield* call(url, "GET", "/v1/relations/compute?tenant=acme", marketer))
      expect(nothing).toMatchObject({ status: 404, body: { rule: "no_compute" } })

      const started = checked("/v1/relations/compute", "POST", yield* call(url, "POST", "/v1/relations/compute", ADMIN, { tenant: "acme", asOf: "2024-11-01" }))
      expect(started.status, JSON.stringify(started.body)).toBe(202)
      expect(started.body).toMatchObject({ kind: "relations-compute", tenant: "acme", asOf: "2024-11-01" })
      expect(started.headers["location"]).toBe(started.body.statusUrl)
      expect(started.body.statusUrl).toMatch(/^\/v1\/operations\/op_/)
      expect(["running", "done"]).toContain(started.body.status)

      // Followed by a marketer (relations:read) until it ends: the run, as a waiting POST answers it.
      const followed = yield* followOperation(url, started, marketer, "/v1/relations/compute?tenant=acme")
      expect(followed.body).toMatchObject({ status: "done", id: started.body.id, tenant: "acme", asOf: "2024-11-01", startedAt: started.body.startedAt, result: { profiles: 2 } })
      // The same operation, as every operation is followed (admins: operations:read).
      const byId = checked("/v1/operations/x", "GET", yield* call(url, "GET", started.body.statusUrl as string, ADMIN))
      expect(byId.body).toEqual(followed.body)
      expect(Date.parse(followed.body.finishedAt as string)).toBeGreaterThanOrEqual(Date.parse(started.body.startedAt as string))
      const stored = yield* call(url, "GET", "/v1/relations/summary?tenant=acme&to=2024-11-01", marketer)
      expect(stored).toMatchObject({ status: 200, body: { to: "2024-11-01" } })

      // A day no run can be kept for is refused before anything starts; a tenant never computed has nothing to follow.
      const outside = yield* call(url, "POST", "/v1/relations/compute", ADMIN, { tenant: "acme", asOf: "2150-01-01" })
      expect(outside.status, JSON.stringify(outside.body)).toBe(400)
      const other = checked("/v1/relations/compute", "GET", yield* call(url, "GET", "/v1/relations/compute?tenant=globex", ADMIN))
      expect(other).toMatchObject({ status: 404, body: { rule: "no_compute" } })
    })), 120_000)

  it("a compute is still followed after the server that ran it stopped: the latest on record", async () => {
    const id = await withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const done = yield* call(url, "POST", "/v1/relations/compute", ADMIN, { tenant: "acme", asOf: "2024-11-01", wait: true })
      expect(done.status, JSON.stringify(done.body)).toBe(200)
      return (yield* call(url, "GET", "/v1/relations/compute?tenant=acme", ADMIN)).body.id as string
    }))
    await withApi(dir, (url) => Effect.gen(function* () {
      const marketer = yield* token(url, { role: "marketer", tenant: "acme" })
      const followed = checked("/v1/relations/compute", "GET", yield* call(url, "GET", "/v1/relations/compute?tenant=acme", marketer))
      expect(followed).toMatchObject({ status: 200, body: { id, kind: "relations-compute", tenant: "acme", asOf: "2024-11-01", status: "done", result: { profiles: 2 } } })
      const other = checked("/v1/relations/compute", "GET", yield* call(url, "GET", "/v1/relations/compute?tenant=globex", ADMIN))
      expect(other).toMatchObject({ status: 404, body: { rule: "no_compute" } })
    }))
  }, 120_000)
})
