import { gzipSync } from "node:zlib"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { basicAuth, freshDir, OTHER_TENANT_KEY, post, query, removeDir, withCollector, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ROUTE_MESSAGES: Record<string, Record<string, unknown>> = {
  track: { userId: "u1", event: "Order Completed", properties: { total: 42 } },
  identify: { userId: "u1", traits: { email: "a@example.com" } },
  page: { anonymousId: "a1", name: "Home", properties: { path: "/" } },
  screen: { anonymousId: "a1", name: "Settings" },
  group: { userId: "u1", groupId: "g1", traits: { name: "Acme" } },
  alias: { userId: "u1", previousId: "a1" },
}

describe("collector routes", () => {
  it("lands a message on each single-message route with the route's type", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        for (const [route, message] of Object.entries(ROUTE_MESSAGES)) {
          const res = yield* post(`${url}/v1/${route}`, { ...message, messageId: `m-${route}` })
          expect(res, route).toEqual({ status: 200, body: { success: true, accepted: 1 } })
        }
        const rows = yield* query<{ message_id: string; type: string; tenant: string; event: string }>(
          "SELECT message_id, type, tenant, event FROM events ORDER BY message_id")
        expect(rows.map((r) => [r.message_id, r.type, r.tenant])).toEqual(
          Object.keys(ROUTE_MESSAGES).sort().map((route) => [`m-${route}`, route, "acme"]))
        expect(rows.find((r) => r.type === "page")?.event).toBe("Home")
      })))

  it("lands batch and import requests, and /v1/import keeps the client's timestamps", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const sentAt = "2024-01-01T00:00:05.000Z"
        const message = (id: string) => ({ type: "track", event: "E", userId: "u", messageId: id, timestamp: "2024-01-01T00:00:00.000Z" })
        expect((yield* post(`${url}/v1/batch`, { batch: [message("b1"), message("b2")], sentAt })).status).toBe(200)
        expect((yield* post(`${url}/v1/import`, { batch: [message("i1")], sentAt })).status).toBe(200)
        const rows = yield* query<{ message_id: string; timestamp: string }>("SELECT message_id, toString(timestamp) AS timestamp FROM events ORDER BY message_id")
        expect(rows.map((r) => r.message_id)).toEqual(["b1", "b2", "i1"])
        expect(rows.find((r) => r.message_id === "i1")?.timestamp).toBe("2024-01-01 00:00:00.000")
        // Live batch: corrected to receivedAt - 5 s, i.e. close to now.
        const live = Date.parse(`${rows[0]!.timestamp.replace(" ", "T")}Z`)
        expect(Math.abs(Date.now() - 5000 - live)).toBeLessThan(60_000)
      })))

  it("accepts gzip bodies whatever the content-type says", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const body = gzipSync(JSON.stringify({ batch: [{ type: "track", event: "Zipped", userId: "u", messageId: "z1" }] }))
        const res = yield* post(`${url}/v1/batch`, new Uint8Array(body), {
          authorization: basicAuth(WRITE_KEY), "content-encoding": "gzip", "content-type": "application/x-www-form-urlencoded",
        })
        expect(res.status).toBe(200)
        expect(yield* query("SELECT event FROM events")).toEqual([{ event: "Zipped" }])
      })))

  it("maps each write key to its tenant", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        yield* post(`${url}/v1/track`, { userId: "u", event: "E", messageId: "same" })
        yield* post(`${url}/v1/track`, { userId: "u", event: "E", messageId: "same" }, { authorization: basicAuth(OTHER_TENANT_KEY) })
        expect(yield* query("SELECT tenant FROM events ORDER BY tenant")).toEqual([{ tenant: "acme" }, { tenant: "globex" }])
      })))
})

describe("collector authentication", () => {
  it("answers 401 with no key, a wrong key or a malformed header, and lands nothing", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const message = { userId: "u", event: "E", messageId: "x" }
        const none = yield* post(`${url}/v1/track`, message, {})
        const wrong = yield* post(`${url}/v1/track`, message, { authorization: basicAuth("wk_wrong") })
        const malformed = yield* post(`${url}/v1/track`, message, { authorization: "Bearer abc" })
        expect([none.status, wrong.status, malformed.status]).toEqual([401, 401, 401])
        expect(none.body).toMatchObject({ success: false, rule: "missing_write_key" })
        expect(wrong.body).toMatchObject({ success: false, rule: "unknown_write_key" })
        expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
        expect(yield* query("SELECT count() AS n FROM dead_letters")).toEqual([{ n: "0" }])
      })))

  it("accepts the write key in the body when no header is sent, as Segment does", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const res = yield* post(`${url}/v1/batch`, { writeKey: WRITE_KEY, batch: [{ type: "track", userId: "u", event: "E" }] }, {})
        expect(res.status).toBe(200)
      })))
})

describe("a message carrying its own write key", () => {
  it("a batch with a message under another tenant's key, or an unknown one, is refused whole (400 naming it) and kept nowhere", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const batch = (key: unknown) => ({
          batch: [
            { type: "track", userId: "u", event: "E", messageId: "none" },
            { type: "track", userId: "u", event: "E", messageId: "own", writeKey: WRITE_KEY },
            { type: "track", userId: "u", event: "E", messageId: "odd", writeKey: key },
          ],
        })
        const foreign = yield* post(`${url}/v1/batch`, batch(OTHER_TENANT_KEY))
        expect(foreign).toMatchObject({ status: 400, body: { success: false, rule: "foreign_write_key", field: "/batch/2/writeKey", accepted: 0 } })
        const unknown = yield* post(`${url}/v1/batch`, batch("wk_nobody"))
        // Whether a key is another tenant's or nobody's is not told (no oracle for guessing keys).
        expect(unknown.body).toEqual(foreign.body)
        expect((yield* post(`${url}/v1/batch`, batch(42))).body).toMatchObject({ rule: "foreign_write_key", field: "/batch/2/writeKey" })
        expect((yield* post(`${url}/v1/track`, { userId: "u", event: "E", writeKey: OTHER_TENANT_KEY })).body)
          .toMatchObject({ rule: "foreign_write_key", field: "/writeKey" })
        // The batch's own key (the Node SDK's place for it) is held to the same rule as a message's.
        const batchKeyed = yield* post(`${url}/v1/batch`, { batch: [{ type: "track", userId: "u", event: "E", messageId: "b1" }], writeKey: OTHER_TENANT_KEY })
        expect(batchKeyed).toMatchObject({ status: 400, body: { success: false, rule: "foreign_write_key", field: "/writeKey", accepted: 0 } })
        expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
        expect(yield* query("SELECT count() AS n FROM dead_letters")).toEqual([{ n: "0" }])
        // Only the request's own key, or none, in the messages: unchanged.
        const fine = yield* post(`${url}/v1/batch`, batch(WRITE_KEY))
        expect(fine).toMatchObject({ status: 200, body: { accepted: 3 } })
        expect(yield* post(`${url}/v1/batch`, { ...batch(WRITE_KEY), writeKey: WRITE_KEY })).toMatchObject({ status: 200, body: { accepted: 3 } })
        expect(yield* query("SELECT DISTINCT tenant FROM events")).toEqual([{ tenant: "acme" }])
      })))

  it("a body key is the batch's own (or its messages'), never one inside a message's properties", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const hidden = yield* post(`${url}/v1/batch`, {
          batch: [{ type: "track", userId: "u", event: "E", messageId: "p1", properties: { writeKey: OTHER_TENANT_KEY } }], writeKey: WRITE_KEY,
        }, {})
        expect(hidden).toMatchObject({ status: 200, body: { accepted: 1 } })
        // analytics.js style: no header, no batch key, each message carries the key.
        const perMessage = yield* post(`${url}/v1/batch`, {
          batch: [{ type: "track", userId: "u", event: "E", messageId: "m1", properties: { writeKey: WRITE_KEY }, writeKey: OTHER_TENANT_KEY }],
        }, {})
        expect(perMessage).toMatchObject({ status: 200, body: { accepted: 1 } })
        const onlyInProperties = yield* post(`${url}/v1/batch`, {
          batch: [{ type: "track", userId: "u", event: "E", messageId: "x1", properties: { writeKey: WRITE_KEY } }],
        }, {})
        expect(onlyInProperties).toMatchObject({ status: 401, body: { rule: "missing_write_key" } })
        expect(yield* query("SELECT tenant, message_id FROM events ORDER BY message_id"))
          .toEqual([{ tenant: "globex", message_id: "m1" }, { tenant: "acme", message_id: "p1" }])
      })))

  it("a body carrying its key is parsed once, for the key and the messages alike", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const body = JSON.stringify({ writeKey: WRITE_KEY, batch: [{ type: "track", userId: "u", event: "E", messageId: "once" }] })
        const parse = vi.spyOn(JSON, "parse")
        try {
          const res = yield* Effect.promise(() => fetch(`${url}/v1/batch`, { method: "POST", headers: { "content-type": "application/json" }, body }))
          expect(res.status).toBe(200)
          expect(parse.mock.calls.filter(([text]) => text === body).length).toBe(1)
        } finally {
          parse.mockRestore()
        }
      })))
})

describe("collector validation", () => {
  it("keeps the good messages of a partial batch and names each bad one's field and rule", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const res = yield* post(`${url}/v1/batch`, {
          batch: [
            { type: "track", userId: "u", event: "Good", messageId: "g1" },
            { type: "track", userId: "u", event: "Bad", messageId: "b1", timestamp: "10/09/2024" },
            { type: "identify", traits: {} },
            { type: "page", anonymousId: "a", messageId: "g2" },
          ],
        })
        expect(res.status).toBe(400)
        expect(res.body).toMatchObject({
          success: false,
          error: "2 of 4 messages were rejected; the others were accepted",
          accepted: 2,
          rejected: [
            { index: 1, messageId: "b1", field: "/timestamp", rule: "bad_timestamp" },
            { index: 2, field: "/userId", rule: "missing_identity" },
          ],
        })
        expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual([{ message_id: "g1" }, { message_id: "g2" }])
        const dead = yield* query<{ tenant: string; rule: string; message_id: string; payload: string; reason: string }>(
          "SELECT tenant, rule, message_id, payload, reason FROM dead_letters ORDER BY rule")
        expect(dead.map((d) => [d.tenant, d.rule, d.message_id])).toEqual([["acme", "bad_timestamp", "b1"], ["acme", "missing_identity", ""]])
        expect(JSON.parse(dead[0]!.payload)).toMatchObject({ messageId: "b1", timestamp: "10/09/2024" })
        expect(dead[0]!.reason).toContain("ISO-8601")
      })))

  it("refuses a body that is not JSON and keeps it as a dead letter", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const res = yield* post(`${url}/v1/track`, "{not json")
        expect(res).toMatchObject({ status: 400, body: { rule: "not_json" } })
        expect(yield* query("SELECT rule, payload FROM dead_letters")).toEqual([{ rule: "not_json", payload: "{not json" }])
      })))

  it("enforces the batch limits: 2,500 messages, 500 KB per batch, 32 KB per message", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const tiny = { type: "track", userId: "u", event: "E" }
        const tooMany = yield* post(`${url}/v1/batch`, { batch: Array.from({ length: 2501 }, () => tiny) })
        expect(tooMany).toMatchObject({ status: 400, body: { rule: "too_many_messages" } })
        const big = "x".repeat(600 * 1024)
        const tooBig = yield* post(`${url}/v1/batch`, { batch: [{ ...tiny, properties: { big } }] })
        expect(tooBig).toMatchObject({ status: 413, body: { rule: "body_too_large" } })
        const bigMessage = yield* post(`${url}/v1/batch`, { batch: [{ ...tiny, messageId: "ok" }, { ...tiny, properties: { p: "y".repeat(40 * 1024) } }] })
        expect(bigMessage).toMatchObject({ status: 400, body: { accepted: 1, rejected: [{ index: 1, rule: "too_large" }] } })
        const singleTooBig = yield* post(`${url}/v1/track`, { ...tiny, properties: { p: "y".repeat(40 * 1024) } })
        expect(singleTooBig.status).toBe(413)
      })))

  it("lands a repeated messageId once, within a batch and across retries", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const m = { type: "track", userId: "u", event: "E", messageId: "dup-1" }
        yield* post(`${url}/v1/batch`, { batch: [m, m, { ...m, messageId: "dup-2" }] })
        yield* post(`${url}/v1/batch`, { batch: [m] })
        yield* post(`${url}/v1/track`, m)
        expect(yield* query("SELECT message_id, count() AS n FROM events GROUP BY message_id ORDER BY message_id")).toEqual([
          { message_id: "dup-1", n: "1" }, { message_id: "dup-2", n: "1" },
        ])
      })))

  it("answers unknown routes with 404 and wrong methods with 405", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const missing = yield* Effect.promise(() => fetch(`${url}/v1/nope`, { method: "POST" }))
        const wrongMethod = yield* Effect.promise(() => fetch(`${url}/v1/track`))
        expect([missing.status, wrongMethod.status]).toEqual([404, 405])
      })))
})

describe("collector health", () => {
  it("reports liveness, readiness and each backend's state", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const res = yield* Effect.promise(() => fetch(`${url}/health`).then(async (r) => ({ status: r.status, body: await r.json() })))
        expect(res.status).toBe(200)
        expect(res.body).toMatchObject({
          live: true, ready: true,
          backends: { warehouse: { kind: "embedded", state: "up" }, bus: { kind: "memory", state: "up" } },
        })
      })))
})
