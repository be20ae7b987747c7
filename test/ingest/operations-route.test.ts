// Operations a running server does in its background (ingest/operations-route.ts, ingest/jobs.ts), on a real
// collector: a replay, a rescore and retention started by POST (202, then followed at GET /v1/operations/{id}, or
// waited for), listed newest first; every answer as openapi.json describes it; wrong bodies, scopes and tenants
// refused, each naming what is wrong; and every state is on record in the warehouse, so a server that starts again
// still answers for what an earlier one ran, and pages through them.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, createToken, followOperation, landBatch, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { checked } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { DEFAULT_RETENTION } from "../../warehouse/retention.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10)

const seed = (url: string) =>
  landBatch(url, Array.from({ length: 3 }, (_, i) => ({
    type: "track", userId: "ann", messageId: `m${i}`, event: "Order Completed", timestamp: `2024-10-0${i + 1}T10:00:00Z`,
  })), { identifier: "user_id:ann", events: 3 })

describe("/v1/operations", () => {
  it("a replay runs in the background and is followed by id; rescore and retention run too; all are listed", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const started = checked("/v1/operations/replay", "POST", yield* call(url, "POST", "/v1/operations/replay", ADMIN, { from: day(-1), to: day(1), tenant: "acme" }))
      expect(started.status, JSON.stringify(started.body)).toBe(202)
      expect(started.headers["location"]).toBe(started.body.statusUrl)
      expect(started.body).toMatchObject({ kind: "replay", tenant: "acme", from: day(-1), to: day(1) })
      const replayed = (yield* followOperation(url, started, ADMIN)).body
      expect(replayed).toMatchObject({ status: "done", result: { records: 3, accepted: 3, duplicates: 3, landed: 0, rejected: 0 } })

      const rescored = checked("/v1/operations/rescore", "POST", yield* call(url, "POST", "/v1/operations/rescore", ADMIN, { since: "2024-01-01", wait: true }))
      expect(rescored.status, JSON.stringify(rescored.body)).toBe(200)
      expect(rescored.body).toMatchObject({ success: true, texts: expect.any(Number), scored: expect.any(Number) })

      const retention = checked("/v1/operations/retention", "POST", yield* call(url, "POST", "/v1/operations/retention", ADMIN, { wait: true }))
      expect(retention.status, JSON.stringify(retention.body)).toBe(200)
      expect(retention.body).toMatchObject({ success: true, tablesChanged: expect.any(Array), archiveDaysRemoved: 0 })

      const listed = checked("/v1/operations", "GET", yield* call(url, "GET", "/v1/operations", ADMIN))
      expect(listed.body.operations.map((o: { kind: string }) => o.kind)).toEqual(["retention", "rescore", "replay"])
      expect(listed.body.operations.every((o: { status: string }) => o.status === "done")).toBe(true)
    }), { retention: DEFAULT_RETENTION }), 120_000)

  it("refuses wrong bodies, missing scopes, other tenants and unknown ids, each naming what is wrong", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const refused = (method: string, path: string, body: unknown, status: number, rule: string, field?: string, token = ADMIN) =>
        Effect.gen(function* () {
          const res = checked(path.split("?", 1)[0]!.replace(/op_[\w-]+$/, "x"), method, yield* call(url, method, path, token, body))
          expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(status)
          expect(res.body.rule, path).toBe(rule)
          if (field !== undefined) expect(res.body.field, path).toBe(field)
          return res
        })
      yield* refused("POST", "/v1/operations/replay", { from: "2024-02-30", to: "2024-03-02" }, 400, "bad_range", "/from")
      yield* refused("POST", "/v1/operations/replay", { from: "2024-03-02", to: "2024-03-01" }, 400, "bad_range", "/to")
      yield* refused("POST", "/v1/operations/replay", { from: "2024-03-01", to: "soon" }, 400, "bad_range", "/to")
      yield* refused("POST", "/v1/operations/replay", { from: "2024-03-01", to: "2024-03-02", source: "fax" }, 400, "unknown_source", "/source")
      yield* refused("POST", "/v1/operations/replay", { to: "2024-03-02" }, 400, "bad_body")
      yield* refused("POST", "/v1/operations/rescore", { since: "soon" }, 400, "bad_since", "/since")
      yield* refused("POST", "/v1/operations/rescore", { since: "2024-01-01", limit: 5 }, 400, "bad_body", "/limit")
      yield* refused("POST", "/v1/operations/retention", { tenant: "acme" }, 400, "bad_body", "/tenant")
      yield* refused("POST", "/v1/operations/retention", {}, 404, "not_served")
      yield* refused("GET", "/v1/operations/op_nothing", undefined, 404, "operation_not_found")
      yield* refused("GET", "/v1/operations?since=1d", undefined, 400, "unknown_parameter", "since")
      yield* refused("GET", "/v1/operations?limit=0", undefined, 400, "bad_limit", "limit")
      yield* refused("GET", "/v1/operations?cursor=zzz", undefined, 400, "bad_cursor", "cursor")
      yield* refused("GET", "/v1/operations/op_x?tenant=acme&verbose=1", undefined, 400, "unknown_parameter", "verbose")
      // Methods openapi.json does not list for a path are 405 naming the one to use.
      expect(yield* call(url, "PUT", "/v1/operations/replay", ADMIN, {})).toMatchObject({ status: 405, body: { rule: "method_not_allowed" }, headers: { allow: "POST" } })

      const marketer = yield* createToken(url, { role: "marketer", tenant: "acme" })
      const denied = yield* refused("POST", "/v1/operations/replay", { from: day(-1), to: day(1) }, 403, "missing_scope", undefined, marketer)
      expect(denied.body.error).toContain("operations:write")

      // A bound admin: its tenant's operations only; retention (every tenant's) is not its to start.
      const acme = yield* createToken(url, { role: "admin", tenant: "acme" })
      const globex = yield* createToken(url, { role: "admin", tenant: "globex" })
      yield* refused("POST", "/v1/operations/retention", {}, 403, "tenant_forbidden", undefined, acme)
      const mine = yield* call(url, "POST", "/v1/operations/replay", acme, { from: day(-1), to: day(1), wait: true })
      expect(mine).toMatchObject({ status: 200, body: { records: 3 } })
      const ops = (yield* call(url, "GET", "/v1/operations", acme)).body.operations as Array<{ id: string; tenant: string }>
      expect(ops.map((o) => o.tenant)).toEqual(["acme"])
      yield* refused("GET", `/v1/operations/${ops[0]!.id}`, undefined, 404, "operation_not_found", undefined, globex)
      expect((yield* call(url, "GET", "/v1/operations", globex)).body).toMatchObject({ operations: [], nextCursor: null })
      yield* refused("POST", "/v1/operations/replay", { from: day(-1), to: day(1), tenant: "acme" }, 403, "tenant_forbidden", "/tenant", globex)
    })), 120_000)

  it("answers after a restart for what an earlier server ran, who asked, in keyset pages", async () => {
    const before = await withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const acme = yield* createToken(url, { role: "admin", tenant: "acme" })
      const ids: Array<string> = []
      for (const token of [ADMIN, acme, ADMIN]) {
        const done = yield* call(url, "POST", "/v1/operations/replay", token, { from: day(-1), to: day(1), tenant: "acme", wait: true })
        expect(done.status, JSON.stringify(done.body)).toBe(200)
        ids.push(((yield* call(url, "GET", "/v1/operations?limit=1", ADMIN)).body.operations as Array<{ id: string }>)[0]!.id)
      }
      const tokenId = ((yield* call(url, "GET", "/v1/tokens", ADMIN)).body.tokens as Array<{ id: string }>)[0]!.id
      return { ids, tokenId }
    }))
    await withApi(dir, (url) => Effect.gen(function* () {
      const one = checked("/v1/operations/x", "GET", yield* call(url, "GET", `/v1/operations/${before.ids[1]}`, ADMIN))
      expect(one.status, JSON.stringify(one.body)).toBe(200)
      expect(one.body).toMatchObject({ id: before.ids[1], kind: "replay", tenant: "acme", status: "done", askedBy: before.tokenId, result: { records: 3 } })
      // Two pages of two, newest first, nothing skipped or repeated.
      const first = checked("/v1/operations", "GET", yield* call(url, "GET", "/v1/operations?limit=2", ADMIN))
      expect(first.body.nextCursor).toEqual(expect.any(String))
      const second = checked("/v1/operations", "GET", yield* call(url, "GET", `/v1/operations?limit=2&cursor=${first.body.nextCursor}`, ADMIN))
      expect(second.body.nextCursor).toBeNull()
      const listed = [...first.body.operations, ...second.body.operations] as Array<{ id: string; askedBy: string }>
      expect(listed.map((o) => o.id)).toEqual([...before.ids].reverse())
      expect(listed.map((o) => o.askedBy)).toEqual(["admin-token", before.tokenId, "admin-token"])
      // Another tenant's token still learns nothing of them.
      const globex = yield* createToken(url, { role: "admin", tenant: "globex" })
      expect((yield* call(url, "GET", `/v1/operations/${before.ids[0]}`, globex)).status).toBe(404)
      expect((yield* call(url, "GET", "/v1/operations", globex)).body.operations).toEqual([])
    }))
  }, 120_000)
})
