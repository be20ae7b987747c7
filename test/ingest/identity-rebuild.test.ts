// POST /v1/identity/rebuild on a running collector: the graph recomputed from the stored observations with the
// server's rules, in the background (an operation, followed at GET /v1/operations/{id}), the running graph reloaded
// after it, so what lands next joins the same profiles; every tenant's without a tenant, a bound token's own only.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, createToken, followOperation, landBatch, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const seed = (url: string) =>
  Effect.gen(function* () {
    yield* landBatch(url, [
      { type: "identify", userId: "ann", messageId: "a1", timestamp: "2024-10-01T10:00:00Z", traits: { email: "ann@acme.example" } },
      { type: "track", anonymousId: "dev-1", messageId: "a2", event: "Viewed", timestamp: "2024-10-02T10:00:00Z", context: { traits: { email: "ann@acme.example" } } },
    ], { identifier: "user_id:ann", events: 2 })
    const res = yield* Effect.promise(() => fetch(`${url}/v1/identify`, {
      method: "POST", headers: { authorization: basicAuth(OTHER_TENANT_KEY), "content-type": "application/json" },
      body: JSON.stringify({ userId: "gus", messageId: "g1", traits: { email: "gus@globex.example" } }),
    }))
    expect(res.status).toBe(200)
    for (let i = 0; i < 100; i++) {
      if ((yield* call(url, "GET", "/v1/profiles/user_id:gus?tenant=globex", ADMIN)).status === 200) return
      yield* Effect.sleep(50)
    }
    throw new Error("globex's message did not land")
  })

describe("POST /v1/identity/rebuild", () => {
  it("rebuilds in the background, every tenant without one, and the running graph follows", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* seed(url)
      const before = (yield* call(url, "GET", "/v1/profiles/user_id:ann?tenant=acme", ADMIN)).body.profileId as string

      const started = yield* call(url, "POST", "/v1/identity/rebuild", ADMIN, {})
      expect(started.status, JSON.stringify(started.body)).toBe(202)
      expect(started.body).toMatchObject({ kind: "identity-rebuild", tenant: null })
      const op = (yield* followOperation(url, started, ADMIN)).body
      expect(op.status, JSON.stringify(op)).toBe("done")
      const tenants = op.result.tenants as Array<{ tenant: string; messages: number; moved: number; profilesAfter: number }>
      expect(tenants.map((t) => t.tenant)).toEqual(["acme", "globex"])
      expect(tenants[0]).toMatchObject({ messages: 2, moved: 0, profilesAfter: 1 })

      // The same rules give the same profiles; a message landing after the rebuild joins them (the graph was reloaded).
      yield* landBatch(url, [{ type: "track", anonymousId: "dev-2", messageId: "a3", event: "Ordered", timestamp: "2024-10-03T10:00:00Z",
        context: { traits: { email: "ann@acme.example" } } }], { identifier: "user_id:ann", events: 3 })
      expect((yield* call(url, "GET", "/v1/profiles/user_id:ann?tenant=acme", ADMIN)).body.profileId).toBe(before)

      // A token bound to a tenant rebuilds its own; waited for, the answer is the rebuild.
      const acme = yield* createToken(url, { role: "admin", tenant: "acme" })
      const own = yield* call(url, "POST", "/v1/identity/rebuild", acme, { wait: true })
      expect(own.status, JSON.stringify(own.body)).toBe(200)
      expect((own.body.tenants as Array<{ tenant: string; messages: number }>).map((t) => [t.tenant, t.messages])).toEqual([["acme", 3]])
      expect((yield* call(url, "POST", "/v1/identity/rebuild", acme, { tenant: "globex" })).status).toBe(403)
    })), 120_000)

  it("refuses what it does not take, and a marketer", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      for (const [body, field] of [[{ tenants: ["acme"] }, "/tenants"], [{ wait: "yes" }, "/wait"]] as const) {
        const r = yield* call(url, "POST", "/v1/identity/rebuild", ADMIN, body)
        expect(r, JSON.stringify(r.body)).toMatchObject({ status: 400, body: { rule: "bad_body", field } })
      }
      expect(yield* call(url, "GET", "/v1/identity/rebuild", ADMIN)).toMatchObject({ status: 405 })
      const marketer = yield* createToken(url, { role: "marketer", tenant: "acme" })
      expect(yield* call(url, "POST", "/v1/identity/rebuild", marketer, {})).toMatchObject({ status: 403, body: { rule: "missing_scope" } })
    })), 60_000)
})
