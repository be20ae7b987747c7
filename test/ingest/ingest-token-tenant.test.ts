// ?tenant= beside an API token on the collector's routes (Segment, webhooks) names the tenant the events are for, as on
// every other route. Found probing cdp serve: POST /v1/track?tenant=globex with an admin token bound to no tenant
// answered 200 and the message landed in tenant "default"; with a collector token bound to acme, 200 and it landed in
// acme; ?tenant=.. was 200 too.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { basicAuth, freshDir, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const post = (url: string, path: string, token: string, body: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${url}${path}`, {
      method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  })

/** Where each user's events landed: "user=tenant" sorted, once they are there (at most 10 s). */
const landed = (url: string, users: number) =>
  Effect.gen(function* () {
    for (let i = 0; ; i++) {
      const r = yield* call(url, "POST", "/v1/query", ADMIN, { sql: "SELECT user_id, tenant FROM events ORDER BY user_id", allTenants: true })
      const rows = (r.body.rows as Array<{ user_id: string; tenant: string }>).map((row) => `${row.user_id}=${row.tenant}`)
      if (rows.length >= users || i >= 200) return rows
      yield* Effect.sleep("50 millis")
    }
  })

describe("?tenant= on the collector's routes with an API token", () => {
  it("a token bound to another tenant is refused 403 naming the query string; one naming its own sends for it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const collector = (yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "collector", tenant: "acme" })).body.token as string
      const track = yield* post(url, "/v1/track?tenant=globex", collector, { userId: "u1", event: "Signed Up" })
      expect(track.status).toBe(403)
      expect(track.body).toMatchObject({ success: false, rule: "tenant_forbidden", field: "tenant" })
      expect(track.body.error).toBe('this token is bound to tenant "acme": the query string names another tenant')
      const hook = yield* post(url, "/v1/webhooks/sendgrid?tenant=globex", collector,
        [{ email: "ann@x.example", event: "delivered", sg_event_id: "s1", sg_message_id: "m1", timestamp: 1727776800 }])
      expect(hook).toMatchObject({ status: 403, body: { rule: "tenant_forbidden" } })
      expect(yield* post(url, "/v1/track?tenant=acme", collector, { userId: "u2", event: "Signed Up" })).toMatchObject({ status: 200 })
      expect(yield* landed(url, 1)).toEqual(["u2=acme"])
    })), 60_000)

  it("a token bound to no tenant sends for the tenant named, and a name no tenant can have is refused 400", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      expect(yield* post(url, "/v1/track?tenant=globex", ADMIN, { userId: "u3", event: "Signed Up" })).toMatchObject({ status: 200 })
      expect(yield* post(url, "/v1/batch?tenant=globex", ADMIN, { batch: [{ type: "track", userId: "u4", event: "Signed Up" }] })).toMatchObject({ status: 200 })
      const bad = yield* post(url, "/v1/track?tenant=..", ADMIN, { userId: "u5", event: "Signed Up" })
      expect(bad).toMatchObject({ status: 400, body: { rule: "bad_tenant", field: "tenant" } })
      const two = yield* post(url, "/v1/track?tenant=acme&tenant=globex", ADMIN, { userId: "u6", event: "Signed Up" })
      expect(two).toMatchObject({ status: 400, body: { rule: "conflicting_tenant", field: "tenant" } })
      expect(yield* post(url, "/v1/track", ADMIN, { userId: "u7", event: "Signed Up" })).toMatchObject({ status: 200 })
      expect(yield* landed(url, 3)).toEqual(["u3=globex", "u4=globex", "u7=default"])
    })), 60_000)

  it("beside a write key (Basic auth or ?write_key=), another tenant is refused 403 and a name no tenant can have 400", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      // Found with the write-key path (acme's key, ?tenant=globex): 200, and the message landed in acme.
      const withKey = (path: string, body: unknown, auth = true) => Effect.promise(async () => {
        const res = await fetch(`${url}${path}`, {
          method: "POST", headers: { ...(auth ? { authorization: basicAuth(WRITE_KEY) } : {}), "content-type": "application/json" }, body: JSON.stringify(body),
        })
        return { status: res.status, body: (await res.json()) as Record<string, unknown> }
      })
      const track = yield* withKey("/v1/track?tenant=globex", { userId: "k1", event: "Signed Up" })
      expect(track).toMatchObject({ status: 403, body: { success: false, rule: "tenant_forbidden", field: "tenant" } })
      expect(track.body.error).toBe('this write key is bound to tenant "acme": the query string names another tenant')
      const inBody = yield* withKey("/v1/batch?tenant=globex", { writeKey: WRITE_KEY, batch: [{ type: "track", userId: "k2", event: "Signed Up" }] }, false)
      expect(inBody).toMatchObject({ status: 403, body: { rule: "tenant_forbidden" } })
      const hook = yield* withKey(`/v1/webhooks/sendgrid?write_key=${WRITE_KEY}&tenant=globex`,
        [{ email: "ann@x.example", event: "delivered", sg_event_id: "s1", sg_message_id: "m1", timestamp: 1727776800 }], false)
      expect(hook).toMatchObject({ status: 403, body: { rule: "tenant_forbidden" } })
      expect(yield* withKey("/v1/track?tenant=..", { userId: "k3", event: "Signed Up" })).toMatchObject({ status: 400, body: { rule: "bad_tenant" } })
      expect(yield* withKey("/v1/track?tenant=acme", { userId: "k4", event: "Signed Up" })).toMatchObject({ status: 200 })
      expect(yield* landed(url, 1)).toEqual(["k4=acme"])
    })), 60_000)
})
