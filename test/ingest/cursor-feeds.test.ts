// The cursors of the audit log, of a destination's delivery history and of an audience's changes feed page only the
// list and tenant that gave them, as the other lists' do (ingest/pages.ts; test/ingest/cursor-lists). Found after
// 6f3950f: a bound token's sealed audit cursor was taken by another tenant's token, an admin's audit cursor of acme by
// globex's page, one destination's history cursor by another's, and one audience's feed cursor by another audience.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { createAudience, refreshAudiences } from "../../identity/audiences/index.ts"
import { parseDestinations } from "../../ingest/destinations/index.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, removeDir, WRITE_KEY } from "../support/pipeline.ts"
import { withConsent } from "../consent/support.ts"
import { AS_OF, landPeople, serveAudiences } from "../identity/audiences/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const refused = (res: { status: number; body: ApiBody }, template: string, what: string) => {
  expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(400)
  expect(res.body, what).toMatchObject({ success: false, rule: "bad_cursor", field: "cursor" })
  expect(String(res.body.error), what).toContain("another list or for another tenant")
  checkResponse(template, "GET", res.status, res.body)
}

const token = (url: string, request: Record<string, unknown>) =>
  Effect.map(callApi(url, "POST", "/v1/tokens", ADMIN, request), (res) => {
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    return res.body.token as string
  })

describe("an audit log cursor", () => {
  it("is refused 400 on another tenant's page (a bound token's sealed one, and an admin's), and pages its own", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      for (const tenant of ["acme", "globex", "acme", "globex"]) {
        expect((yield* callApi(url, "POST", "/v1/dsr", ADMIN, { type: "access", identifier: "user_id:p", tenant })).status).toBe(201)
      }
      const acme = yield* token(url, { role: "compliance", tenant: "acme" })
      const globex = yield* token(url, { role: "compliance", tenant: "globex" })
      const first = yield* callApi(url, "GET", "/v1/audit?kind=dsr.&limit=2", acme)
      expect(first.status, JSON.stringify(first.body)).toBe(200)
      const sealed = first.body.nextCursor as string
      expect(typeof sealed).toBe("string")
      refused(yield* callApi(url, "GET", `/v1/audit?kind=dsr.&limit=2&cursor=${encodeURIComponent(sealed)}`, globex), "/v1/audit", "acme's sealed cursor, globex's token")
      const next = yield* callApi(url, "GET", `/v1/audit?kind=dsr.&limit=2&cursor=${encodeURIComponent(sealed)}`, acme)
      expect(next.status, JSON.stringify(next.body)).toBe(200)
      expect(next.body.entries.every((e: ApiBody) => e.tenant === "acme")).toBe(true)

      const admin = yield* callApi(url, "GET", "/v1/audit?tenant=acme&kind=dsr.&limit=2", ADMIN)
      const cursor = encodeURIComponent(admin.body.nextCursor as string)
      refused(yield* callApi(url, "GET", `/v1/audit?tenant=globex&kind=dsr.&cursor=${cursor}`, ADMIN), "/v1/audit", "admin, acme's cursor on globex")
      refused(yield* callApi(url, "GET", `/v1/audit?kind=dsr.&cursor=${cursor}`, ADMIN), "/v1/audit", "admin, acme's cursor on every tenant")
      // A list of another kind, keyed by a number too, does not take it either; nor does the audit log take theirs.
      refused(yield* callApi(url, "GET", `/v1/operations?tenant=acme&cursor=${cursor}`, ADMIN), "/v1/operations", "admin, audit cursor on operations")
      const dsr = (yield* callApi(url, "GET", "/v1/dsr?tenant=acme&limit=1", ADMIN)).body.nextCursor as string
      refused(yield* callApi(url, "GET", `/v1/audit?tenant=acme&cursor=${dsr}`, ADMIN), "/v1/audit", "admin, a DSR list's cursor on the audit log")
      const own = yield* callApi(url, "GET", `/v1/audit?tenant=acme&kind=dsr.&limit=2&cursor=${cursor}`, ADMIN)
      expect(own.status, JSON.stringify(own.body)).toBe(200)
      expect(own.body.entries[0].seq).toBeLessThan(admin.body.entries[1].seq)
    })), 60_000)
})

describe("a destination's delivery history cursor", () => {
  it("is refused 400 on another destination's history, and pages its own", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const send = (ids: ReadonlyArray<string>) => Effect.promise(() => fetch(`${url}/v1/batch`, {
        method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" },
        body: JSON.stringify({ batch: ids.map((id) => ({ type: "identify", userId: id, messageId: `m-${id}`, traits: { email: `${id}@acme.example` } })) }),
      }).then((r) => r.status))
      // Each destination's history gets a row per run that sends something: two runs, each after new people landed.
      for (const [ids, rows] of [[["p1", "p2"], 1], [["p3"], 2]] as const) {
        expect(yield* send(ids)).toBe(200)
        let runs = 0
        for (; runs < 100; runs++) {
          expect((yield* callApi(url, "POST", "/v1/exports/run?tenant=acme", ADMIN, {})).status).toBe(200)
          const lengths = yield* Effect.forEach(["lake", "pond"], (d) => Effect.map(callApi(url, "GET", `/v1/exports/${d}/history?tenant=acme`, ADMIN), (r) => r.body.history.length as number))
          if (lengths.every((n) => n >= rows)) break
          yield* Effect.sleep("200 millis")
        }
        expect(runs).toBeLessThan(100)
      }
      const lake = yield* callApi(url, "GET", "/v1/exports/lake/history?tenant=acme&limit=1", ADMIN)
      const cursor = lake.body.nextCursor as string
      expect(typeof cursor).toBe("string")
      refused(yield* callApi(url, "GET", `/v1/exports/pond/history?tenant=acme&cursor=${cursor}`, ADMIN), "/v1/exports/{destination}/history", "lake's cursor on pond")
      const own = yield* callApi(url, "GET", `/v1/exports/lake/history?tenant=acme&limit=1&cursor=${cursor}`, ADMIN)
      expect(own.status, JSON.stringify(own.body)).toBe(200)
      expect(own.body.history).toHaveLength(1)
    }), {
      destinations: parseDestinations(JSON.stringify({ acme: [
        { name: "lake", type: "ndjson", purpose: "EmailMarketing" }, { name: "pond", type: "ndjson", purpose: "EmailMarketing" },
      ] })),
    }), 90_000)
})

describe("an audience's changes feed cursor", () => {
  it("is refused 400 on another audience's feed, and pages its own", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const pro = yield* createAudience("acme", { name: "Pro", purpose: "Analytics", condition: { trait: "plan", equals: "pro" } }, "test")
      const city = yield* createAudience("acme", { name: "Leeds", purpose: "Analytics", condition: { trait: "city", equals: "Leeds" } }, "test")
      const pipeline = yield* Pipeline
      const emit = (events: ReadonlyArray<CanonicalEvent>) => pipeline.submit(events, [], { archive: false })
      const refreshed = yield* refreshAudiences({ tenant: "acme", emit, asOfMs: AS_OF })
      expect(refreshed.entered).toBeGreaterThanOrEqual(2)
      const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
      const get = (path: string) => Effect.promise(async () => {
        const res = await fetch(`${base}${path}`)
        return { status: res.status, body: (await res.json()) as ApiBody }
      })
      const first = yield* get(`/v1/audiences/${pro.id}/changes?tenant=acme&limit=1`)
      expect(first.status, JSON.stringify(first.body)).toBe(200)
      expect(first.body.changes).toHaveLength(1)
      const cursor = encodeURIComponent(first.body.cursor as string)
      refused(yield* get(`/v1/audiences/${city.id}/changes?tenant=acme&cursor=${cursor}`), "/v1/audiences/{id}/changes", "pro's cursor on city's feed")
      // A list's cursor (the audiences list's) is no feed cursor either.
      const list = (yield* get("/v1/audiences?tenant=acme&limit=1")).body.nextCursor as string
      refused(yield* get(`/v1/audiences/${pro.id}/changes?tenant=acme&cursor=${list}`), "/v1/audiences/{id}/changes", "the audiences list's cursor on a feed")
      const own = yield* get(`/v1/audiences/${pro.id}/changes?tenant=acme&limit=10&cursor=${cursor}`)
      expect(own.status, JSON.stringify(own.body)).toBe(200)
      expect(own.body.changes.map((c: ApiBody) => c.seq)).not.toContain(first.body.changes[0].seq)
    })), 90_000)
})
