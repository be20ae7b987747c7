// What the API guard and its routes must hold when probed on a real collector: a tenant named in the query string or
// body has a tenant's shape on every route, granted reads of personal data and of the audit log are audited, a token
// bound to a tenant learns nothing of the others' audit entries, and a GET changes nothing (listening alerts).
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type AuditEntry, readAudit } from "../../consent/audit.ts"
import { API_ROUTES } from "../../ingest/auth.ts"
import { Collector } from "../../ingest/collector.ts"
import type { ListeningReporter } from "../../ingest/listening-route.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { listenReport } from "../../sentiment/index.ts"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN, withApi as withCollector } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, type PipelineServices, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ADMIN = TEST_ADMIN_TOKEN
const call = callApi

const withApi = <A, E>(program: (url: string) => Effect.Effect<A, E, PipelineServices | Collector | Scope.Scope>, options = {}) =>
  withCollector(dir, program, options)

const makeToken = (url: string, request: Record<string, unknown>) =>
  Effect.map(call(url, "POST", "/v1/tokens", ADMIN, request), (res) => {
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    return { token: res.body.token as string, id: res.body.details.id as string }
  })

/** One GET per route that reads ?tenant= (every API route goes through the guard). */
const TENANT_READERS = [
  "/v1/profiles/user_id:ann", "/v1/profiles/user_id:ann/events", "/v1/consent/user_id:ann", "/v1/identity/suggestions", "/v1/dsr",
  "/v1/audiences", "/v1/exports", "/v1/listening/report", "/v1/audit", "/v1/audit/verify",
]

/** The access records the server flushed to the audit log as it stopped, each with its entry's tenant. */
const accessRecords = () =>
  Effect.gen(function* () {
    const entries: ReadonlyArray<AuditEntry> = yield* readAudit.pipe(Effect.provide(ObjectStore.local(join(dir, "objects"))))
    return entries.filter((e) => e.kind === "api.access")
      .flatMap((e) => (e.data.records as Array<ApiBody>).map((r): ApiBody => ({ ...r, tenant: e.tenant })))
  })

describe("the tenant named in a request", () => {
  it("is refused 400 bad_tenant on every route when ?tenant= is not a tenant's shape, for an admin and a bound token alike", () =>
    withApi((url) => Effect.gen(function* () {
      const bound = (yield* makeToken(url, { role: "admin", tenant: "acme" })).token
      for (const path of TENANT_READERS) {
        for (const bad of ["", "%0A", "a%20b", "x".repeat(101)]) {
          for (const token of [ADMIN, bound]) {
            const res = yield* call(url, "GET", `${path}?tenant=${bad}`, token)
            expect(res.status, `${path} ?tenant=${bad.slice(0, 10)} ${JSON.stringify(res.body).slice(0, 200)}`).toBe(400)
            expect(res.body).toMatchObject({ rule: "bad_tenant", field: "tenant" })
          }
        }
      }
      // A tenant of the right shape still reaches the route.
      expect((yield* call(url, "GET", "/v1/dsr?tenant=acme", ADMIN)).status).toBe(200)
    })), 120_000)

  it("is refused 400 bad_tenant when a body's tenant is not a tenant's name", () =>
    withApi((url) => Effect.gen(function* () {
      for (const tenant of ["", "a\nb", 42, null, ["acme"], "x".repeat(101)]) {
        const res = yield* call(url, "POST", "/v1/dsr", ADMIN, { type: "access", identifier: "user_id:ann", tenant })
        expect(res.status, JSON.stringify(tenant)).toBe(400)
        expect(res.body).toMatchObject({ rule: "bad_tenant", field: "/tenant" })
      }
      const res = yield* call(url, "POST", "/v1/query", ADMIN, { sql: "SELECT 1 AS x", tenant: " acme" })
      expect(res.body).toMatchObject({ rule: "bad_tenant", field: "/tenant" })
    })), 60_000)
})

describe("the access audit", () => {
  it("records granted reads of the audit log and of data-subject requests, not only refusals", () =>
    Effect.runPromise(Effect.gen(function* () {
      let id = ""
      yield* Effect.promise(() => withApi((url) => Effect.gen(function* () {
        const made = yield* makeToken(url, { role: "compliance", tenant: "acme" })
        id = made.id
        for (const path of ["/v1/audit", "/v1/audit/verify", "/v1/dsr"]) {
          const res = yield* call(url, "GET", path, made.token)
          expect(res.status, `${path} ${JSON.stringify(res.body)}`).toBe(200)
        }
      })))
      const records = yield* accessRecords()
      for (const route of ["/v1/audit", "/v1/dsr"]) {
        expect(records.filter((r) => r.tokenId === id && r.route === route && r.outcome === "granted" && r.status === 200).length, route)
          .toBe(route === "/v1/audit" ? 2 : 1)
      }
      expect(records.every((r) => r.tenant === "acme" || r.tokenId !== id)).toBe(true)
    })), 60_000)

  it("leaves no route of personal data unaudited", () => {
    // Tokens hold no person, nor does what a token may do (/v1/me); every other route reads or changes personal data
    // (or the log of who did).
    expect(API_ROUTES.filter((r) => r.audit !== "all").map((r) => r.name)).toEqual(["tokens", "me"])
  })
})

describe("GET /v1/audit/verify with a token bound to a tenant", () => {
  it("counts only that tenant's entries and shows no head of the shared chain", () =>
    withApi((url) => Effect.gen(function* () {
      for (const [tenant, n] of [["acme", 1], ["globex", 3]] as const) {
        for (let i = 0; i < n; i++) {
          const res = yield* call(url, "POST", "/v1/dsr", ADMIN, { type: "access", identifier: `user_id:p${i}`, tenant })
          expect(res.status, JSON.stringify(res.body)).toBe(201)
        }
      }
      const acme = (yield* makeToken(url, { role: "compliance", tenant: "acme" })).token
      const bound = yield* call(url, "GET", "/v1/audit/verify", acme)
      checkResponse("/v1/audit/verify", "GET", bound.status, bound.body)
      const whole = yield* call(url, "GET", "/v1/audit/verify", ADMIN)
      const acmeEntries = (yield* call(url, "GET", "/v1/audit?tenant=acme&limit=500", ADMIN)).body.entries.length
      expect(acmeEntries).toBeGreaterThan(0)
      expect(whole.body.verification).toMatchObject({ ok: true })
      expect(whole.body.verification.entries).toBeGreaterThanOrEqual(acmeEntries * 3)
      expect(bound.body.verification).toEqual({ ok: true, tenant: "acme", entries: acmeEntries, keyId: whole.body.verification.keyId, problems: [] })
    })), 60_000)
})

describe("GET /v1/audit with a token bound to a tenant", () => {
  it("shows its entries without their place in the shared chain, with an opaque cursor a forged one cannot replace", () =>
    withApi((url) => Effect.gen(function* () {
      for (const tenant of ["globex", "acme", "globex", "globex", "acme"]) {
        expect((yield* call(url, "POST", "/v1/dsr", ADMIN, { type: "access", identifier: "user_id:p", tenant })).status).toBe(201)
      }
      const acme = (yield* makeToken(url, { role: "compliance", tenant: "acme" })).token
      const first = yield* call(url, "GET", "/v1/audit?kind=dsr.&limit=4", acme)
      checkResponse("/v1/audit", "GET", first.status, first.body)
      expect(first.body.entries.map((e: ApiBody) => e.tenant)).toEqual(["acme", "acme", "acme", "acme"])
      expect(first.body.entries.some((e: ApiBody) => "seq" in e || "prevHash" in e)).toBe(false)
      expect(first.body.scanned).toBeUndefined()
      expect(first.body.nextCursor).not.toMatch(/^\d+$/)
      const next = yield* call(url, "GET", `/v1/audit?kind=dsr.&limit=4&cursor=${first.body.nextCursor}`, acme)
      // Two acme requests of three entries each, over two pages, none twice.
      expect(new Set([...first.body.entries, ...next.body.entries].map((e: ApiBody) => e.hash)).size).toBe(6)
      expect(next.body.nextCursor).toBeNull()
      const forged = yield* call(url, "GET", "/v1/audit?kind=dsr.&cursor=9", acme)
      expect(forged.body).toMatchObject({ rule: "bad_cursor", field: "cursor" })
      // An unbound token still sees each entry's place; its cursor is bound to its page, not sealed (ingest/pages.ts).
      const admin = yield* call(url, "GET", "/v1/audit?limit=1", ADMIN)
      expect(admin.body.entries[0].seq).toBeGreaterThan(0)
      const after = yield* call(url, "GET", `/v1/audit?limit=1&cursor=${admin.body.nextCursor}`, ADMIN)
      expect(after.body.entries[0].seq).toBe(admin.body.entries[0].seq - 1)
    })), 60_000)
})

describe("the listening report", () => {
  const recording = (calls: Array<boolean>): ListeningReporter => (o) => {
    calls.push(o.raiseAlerts)
    return listenReport({ ...o, brand: [] })
  }

  it("raises spike alerts only on POST: a GET changes nothing and ?alerts=1 on it is refused", () => {
    const calls: Array<boolean> = []
    return withApi((url) => Effect.gen(function* () {
      const get = yield* call(url, "GET", "/v1/listening/report?tenant=acme&since=7d", ADMIN)
      checkResponse("/v1/listening/report", "GET", get.status, get.body)
      expect(get.status).toBe(200)
      const refused = yield* call(url, "GET", "/v1/listening/report?alerts=1", ADMIN)
      checkResponse("/v1/listening/report", "GET", refused.status, refused.body)
      expect(refused.body).toMatchObject({ rule: "alerts_need_post", field: "alerts" })
      const post = yield* call(url, "POST", "/v1/listening/report", ADMIN, { tenant: "acme", since: "2024-09-01", until: "2024-10-01" })
      checkResponse("/v1/listening/report", "POST", post.status, post.body)
      expect(post.status, JSON.stringify(post.body)).toBe(200)
      expect(post.body.report).toMatchObject({ tenant: "acme", since: "2024-09-01T00:00:00.000Z" })
      const marketer = (yield* makeToken(url, { role: "marketer", tenant: "globex" })).token
      const bound = yield* call(url, "POST", "/v1/listening/report", marketer, "")
      expect(bound.status, JSON.stringify(bound.body)).toBe(200)
      expect(bound.body.report.tenant).toBe("globex")
      for (const [body, field] of [[{ since: 7 }, "/since"], [{ colour: "red" }, "/colour"], [{ since: "someday" }, "/since"]] as const) {
        const bad = yield* call(url, "POST", "/v1/listening/report", ADMIN, body)
        checkResponse("/v1/listening/report", "POST", bad.status, bad.body)
        expect(bad.status, JSON.stringify(body)).toBe(400)
        expect(bad.body.field).toBe(field)
      }
      expect(calls).toEqual([false, true, true])
    }), { listeningReport: recording(calls) })
  }, 60_000)
})

describe("ingest/openapi.json", () => {
  it("describes the refusals the collector gives: foreign_write_key, bad_cursor of ?after=, bad_tenant", () =>
    withApi((url) => Effect.gen(function* () {
      const send = (path: string, body: unknown, key: string) => Effect.promise(async () => {
        const res = await fetch(`${url}${path}`, { method: "POST", headers: { authorization: basicAuth(key), "content-type": "application/json" }, body: JSON.stringify(body) })
        return { status: res.status, body: (await res.json()) as ApiBody }
      })
      const ok = yield* send("/v1/batch", { batch: [{ type: "track", userId: "u", event: "E" }] }, WRITE_KEY)
      checkResponse("/v1/batch", "POST", ok.status, ok.body)
      const foreign = yield* send("/v1/batch", { batch: [{ type: "track", userId: "u", event: "E", writeKey: OTHER_TENANT_KEY }] }, WRITE_KEY)
      expect(foreign.body.rule).toBe("foreign_write_key")
      checkResponse("/v1/batch", "POST", foreign.status, foreign.body)
      const single = yield* send("/v1/track", { userId: "u", event: "E", writeKey: OTHER_TENANT_KEY }, WRITE_KEY)
      expect(single.body.field).toBe("/writeKey")
      checkResponse("/v1/track", "POST", single.status, single.body)
      const partial = yield* send("/v1/batch", { batch: [{ type: "track", userId: "u", event: "E" }, { type: "track", event: "E" }] }, WRITE_KEY)
      checkResponse("/v1/batch", "POST", partial.status, partial.body)
      expect(partial.body.rejected[0]).toMatchObject({ index: 1 })
      const unknown = yield* send("/v1/identify", { userId: "u" }, "wk_nobody")
      checkResponse("/v1/identify", "POST", unknown.status, unknown.body)
      const created = yield* call(url, "POST", "/v1/audiences", ADMIN, {
        tenant: "acme", name: "pro", purpose: "EmailMarketing", condition: { trait: "plan", equals: "pro" },
      })
      const id = created.body.audience?.id ?? created.body.id
      expect(created.status, JSON.stringify(created.body)).toBe(201)
      const after = yield* call(url, "GET", `/v1/audiences/${id}/members?tenant=acme&after=junk`, ADMIN)
      expect(after.body).toMatchObject({ rule: "bad_cursor", field: "after" })
      checkResponse("/v1/audiences/{id}/members", "GET", after.status, after.body)
      for (const [path, template] of [["/v1/audit/verify", "/v1/audit/verify"], ["/v1/exports", "/v1/exports"], ["/v1/tokens", "/v1/tokens"]] as const) {
        const bad = yield* call(url, "GET", `${path}?tenant=%0A`, ADMIN)
        expect(bad.body.rule, path).toBe("bad_tenant")
        checkResponse(template, "GET", bad.status, bad.body)
      }
    })), 60_000)
})
