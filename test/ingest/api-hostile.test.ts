// Hostile bodies on the token-guarded API routes of a real collector: what probing `cdp serve` found answered 500.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { TEST_ADMIN_TOKEN, withApi as collectorApi } from "../support/api.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { eventOn } from "../support/events.ts"
import { basicAuth, freshDir, query, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ADMIN = TEST_ADMIN_TOKEN

const withApi = <A, E>(program: Parameters<typeof collectorApi<A, E>>[1]) => collectorApi(dir, program)

const send = (url: string, path: string, token: string, text: string) =>
  Effect.promise(async () => {
    const res = await fetch(`${url}${path}`, {
      method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: text,
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  })

/** A body with one array nested `depth` levels deep (150 KB at 75,000 levels: under every route's size limit). */
const nested = (fields: string, depth: number) => `{${fields}, "x": ${"[".repeat(depth)}${"]".repeat(depth)}}`

describe("a webhook post of more items than any sender batches", () => {
  it("is refused whole with 413 naming the limit, so one small body of millions of empty items cannot flood the dead letters and the bus", () =>
    withApi((url) => Effect.gen(function* () {
      const post = (body: string) => Effect.promise(async () => {
        const res = await fetch(`${url}/v1/webhooks/sendgrid`, { method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }, body })
        return { status: res.status, body: (await res.json()) as Record<string, unknown> }
      })
      const flood = yield* post(`[${Array.from({ length: 200_000 }, () => "{}").join(",")}]`)
      expect(flood.status).toBe(413)
      expect(flood.body).toMatchObject({ success: false, rule: "too_many_items" })
      expect(String(flood.body["error"])).toContain("at most 10000 items (this one has more)")
      expect(yield* query("SELECT count() AS n FROM dead_letters")).toEqual([{ n: "0" }])
      // A batch of the size senders post is read item by item as before.
      const normal = yield* post(JSON.stringify([{ email: "ann@x.example", event: "delivered", sg_event_id: "s1", sg_message_id: "m1", timestamp: 1727776800 }]))
      expect(normal).toMatchObject({ status: 200, body: { accepted: 1 } })
    })))

  it("a calls export, chat NDJSON or social NDJSON post past 10,000 items is refused 413 naming the limit, and nothing of it lands", () =>
    withApi((url) => Effect.gen(function* () {
      const post = (source: string, body: string) => Effect.promise(async () => {
        const res = await fetch(`${url}/v1/webhooks/${source}`, { method: "POST", headers: { authorization: basicAuth(WRITE_KEY) }, body })
        return { status: res.status, body: (await res.json()) as Record<string, unknown> }
      })
      const many = (make: (i: number) => string) => Array.from({ length: 50_894 }, (_, i) => make(i))
      const calls = ["call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes",
        ...many((i) => `CA${i},2024-09-16T09:28:50Z,60,inbound,201-555-0150,Riley,Billing,resolved,Fine.`)].join("\r\n")
      const chat = many((i) => JSON.stringify({ conversation_id: `c${i}`, messages: [] })).join("\n")
      const social = many((i) => JSON.stringify({ id: `r${i}`, network: "reddit", author_handle: "h", text: "ok", created_at: "2024-10-01T10:00:00Z" })).join("\n")
      for (const [source, body] of [["calls", calls], ["chat", chat], ["social", social]] as const) {
        const res = yield* post(source, body)
        expect(res.status, source).toBe(413)
        expect(res.body, source).toMatchObject({ success: false, rule: "too_many_items" })
        expect(String(res.body["error"]), source).toContain("at most 10000 items")
      }
      expect(yield* query("SELECT count() AS n FROM dead_letters")).toEqual([{ n: "0" }])
      expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
    })))
})

describe("hostile bodies on the API routes", () => {
  it("a body nested 75,000 levels deep, or a badly percent-encoded id, is a 400 naming the rule and where, never a 500", () =>
    withApi((url) => Effect.gen(function* () {
      const created = yield* send(url, "/v1/tokens", ADMIN, JSON.stringify({ role: "admin", tenant: "acme" }))
      expect(created.status).toBe(201)
      const bound = created.body["token"] as string
      const cases: ReadonlyArray<readonly [string, string, string]> = [
        [bound, "/v1/audiences/preview", '"purpose": "Analytics"'],
        [bound, "/v1/query", '"sql": "SELECT 1"'],
        [bound, "/v1/dsr", '"type": "access", "identifier": "user_id:nobody"'],
        [bound, "/v1/tokens", '"role": "marketer"'],
        [ADMIN, "/v1/query?tenant=acme", '"sql": "SELECT 1"'],
      ]
      for (const [token, path, fields] of cases) {
        const res = yield* send(url, path, token, nested(fields, 75_000))
        expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(400)
        expect(res.body).toMatchObject({ success: false, rule: "too_deep" })
        expect(String(res.body["field"])).toMatch(/^\/x\/0\/0/)
      }
      // A path that is not validly percent-encoded names nothing: a 400 naming it, never a 500.
      const badId = yield* Effect.promise(() =>
        fetch(`${url}/v1/audiences/%E0%A4%A/members`, { headers: { authorization: `Bearer ${bound}` } }).then(async (r) => ({ status: r.status, body: await r.json() })))
      expect(badId).toMatchObject({ status: 400, body: { success: false, rule: "bad_audience_id", field: "/id" } })
      // A path tenant is a tenant's name: badly encoded or not shaped like one, it is refused naming it, never taken
      // literally as a tenant nobody made (nor, for a bound token, reported as another tenant).
      const get = (path: string, token: string) => Effect.promise(() =>
        fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({ status: r.status, body: await r.json() })))
      for (const tenant of ["%E0%A4%A", "a%20b", "a%00b", "%0A", "x".repeat(101)]) {
        for (const token of [ADMIN, bound]) {
          expect(yield* get(`/v1/tenants/${tenant}/audiences`, token), tenant)
            .toMatchObject({ status: 400, body: { success: false, rule: "bad_tenant", field: "tenant" } })
        }
      }
      expect(yield* get("/v1/tenants/acme/audiences", bound)).toMatchObject({ status: 200, body: { success: true } })
      expect(yield* get("/v1/tenants/acme-eu.2/audiences", ADMIN)).toMatchObject({ status: 200, body: { success: true } })
      // A name no write key could have (tenants are 1-64 lowercase letters, digits, '.', '_' or '-' wherever they are named).
      expect(yield* get(`/v1/tenants/${encodeURIComponent("é-ü")}/audiences`, ADMIN)).toMatchObject({ status: 400, body: { rule: "bad_tenant" } })
      // The same bodies at a sane depth still reach their routes: the query route reads it and names its unknown field
      // (44d1d2d), and without that field answers.
      const shallow = yield* send(url, "/v1/query", bound, nested('"sql": "SELECT 1 AS one"', 3))
      expect(shallow).toMatchObject({ status: 400, body: { success: false, rule: "bad_body", field: "/x" } })
      const fine = yield* send(url, "/v1/query", bound, '{"sql": "SELECT 1 AS one"}')
      expect(fine).toMatchObject({ status: 200, body: { success: true, rows: [{ one: 1 }] } })
    })))
})

describe("trait names that are names of every JavaScript object", () => {
  it("a profile whose traits are named constructor, toString or __proto__ reads 200 with them as stated, for every role", () =>
    withApi((url) => Effect.gen(function* () {
      // As a sender's identify brings them (JSON.parse makes "__proto__" an own key, as the collector reads it).
      const stated = '{"constructor": "c", "toString": "t", "__proto__": {"email": "spoof@x.example"}, "plan": "pro"}'
      const traits = JSON.parse(stated) as Record<string, unknown>
      yield* (yield* Pipeline).submit([eventOn("proto-1", 1, { type: "identify", userId: "u1", traits })], [])
      const marketer = (yield* send(url, "/v1/tokens", ADMIN, JSON.stringify({ role: "marketer", tenant: "acme" }))).body["token"] as string
      // The marketer's copy has the address masked (a key named for e-mail), the trait kept.
      const masked = JSON.parse(stated.replace("spoof@x.example", "[masked]")) as Record<string, unknown>
      for (const [token, expected] of [[ADMIN, traits], [marketer, masked]] as const) {
        const res = yield* Effect.promise(() =>
          fetch(`${url}/v1/profiles/user_id:u1?tenant=acme`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({ status: r.status, text: await r.text() })))
        expect(res.status, res.text).toBe(200)
        const body = JSON.parse(res.text) as { traits: Record<string, { value: unknown }> }
        expect(Object.keys(body.traits).sort()).toEqual(["__proto__", "constructor", "plan", "toString"])
        expect(Object.fromEntries(Object.entries(body.traits).map(([k, t]) => [k, t.value]))).toEqual(expected)
        // The stated __proto__ is a trait, not the prototype of the traits: no read of another trait falls through to it.
        expect((body.traits as Record<string, unknown>)["email"]).toBeUndefined()
      }
    })))
})
