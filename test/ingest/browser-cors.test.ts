// What a browser needs from the collector, at the HTTP level: Segment's short routes, CORS as Segment's API serves
// it, per-key origin allow-lists, and a body write key that is never kept. (browser-sdk.test.ts runs the real SDKs.)
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { normaliseOrigin, parseAllowedOriginSpecs, withAllowedOrigins, writeKeys } from "../../ingest/writekeys.ts"
import { basicAuth, freshDir, post, query, removeDir, TEST_KEYS, withCollector, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const SHOP = "https://shop.example"

const send = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string }) =>
  Effect.promise(async () => {
    const res = await fetch(url, { method: init.method ?? "POST", headers: init.headers ?? {}, ...(init.body === undefined ? {} : { body: init.body }) })
    const text = await res.text()
    return { status: res.status, headers: res.headers, body: text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>) }
  })

const fromPage = (origin: string, key = WRITE_KEY) => ({ origin, authorization: basicAuth(key), "content-type": "text/plain" })

describe("Segment's short routes", () => {
  it("lands a message on each of /v1/t, /v1/i, /v1/p, /v1/s, /v1/g, /v1/a and a batch on /v1/b, typed as the long routes", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const short: Record<string, Record<string, unknown>> = {
          t: { userId: "u1", event: "Order Completed" },
          i: { userId: "u1", traits: { plan: "pro" } },
          p: { anonymousId: "a1", name: "Home" },
          s: { anonymousId: "a1", name: "Settings" },
          g: { userId: "u1", groupId: "g1" },
          a: { userId: "u1", previousId: "a1" },
        }
        for (const [route, message] of Object.entries(short)) {
          const res = yield* post(`${url}/v1/${route}`, { ...message, messageId: `m-${route}` })
          expect(res, route).toEqual({ status: 200, body: { success: true, accepted: 1 } })
        }
        const batch = yield* post(`${url}/v1/b`, { batch: [{ type: "track", userId: "u1", event: "Batched", messageId: "m-b" }] })
        expect(batch).toEqual({ status: 200, body: { success: true, accepted: 1 } })
        const rows = yield* query<{ message_id: string; type: string }>("SELECT message_id, type FROM events ORDER BY message_id")
        expect(rows).toEqual([
          { message_id: "m-a", type: "alias" }, { message_id: "m-b", type: "track" }, { message_id: "m-g", type: "group" },
          { message_id: "m-i", type: "identify" }, { message_id: "m-p", type: "page" }, { message_id: "m-s", type: "screen" },
          { message_id: "m-t", type: "track" },
        ])
      })))
})

describe("CORS on the Segment routes", () => {
  it("answers a preflight 204 with the origin, POST, the requested headers and a max-age", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        for (const route of ["/v1/t", "/v1/b", "/v1/track", "/v1/batch"]) {
          const res = yield* send(`${url}${route}`, {
            method: "OPTIONS",
            headers: { origin: SHOP, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
          })
          expect(res.status, route).toBe(204)
          expect(res.headers.get("access-control-allow-origin")).toBe(SHOP)
          expect(res.headers.get("access-control-allow-methods")).toContain("POST")
          expect(res.headers.get("access-control-allow-headers")).toBe("authorization,content-type")
          expect(Number(res.headers.get("access-control-max-age"))).toBeGreaterThan(0)
          expect(res.headers.get("vary")).toContain("Origin")
        }
      })))

  it("puts Access-Control-Allow-Origin on real responses, refusals included", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const message = JSON.stringify({ userId: "u", event: "E", messageId: "m1" })
        const ok = yield* send(`${url}/v1/t`, { headers: fromPage(SHOP), body: message })
        const unknownKey = yield* send(`${url}/v1/t`, { headers: fromPage(SHOP, "wk_nope"), body: message })
        const invalid = yield* send(`${url}/v1/t`, { headers: fromPage(SHOP), body: JSON.stringify({ event: "E" }) })
        const wrongMethod = yield* send(`${url}/v1/t`, { method: "GET", headers: { origin: SHOP } })
        expect([ok.status, unknownKey.status, invalid.status, wrongMethod.status]).toEqual([200, 401, 400, 405])
        for (const res of [ok, unknownKey, invalid, wrongMethod]) {
          expect(res.headers.get("access-control-allow-origin")).toBe(SHOP)
        }
        // A server (no Origin) gets no CORS headers: they are for browsers.
        const server = yield* send(`${url}/v1/t`, { headers: { authorization: basicAuth(WRITE_KEY) }, body: message })
        expect(server.status).toBe(200)
        expect(server.headers.get("access-control-allow-origin")).toBeNull()
      })))

  it("grants no CORS on webhooks, queries and health, which pages do not call", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        for (const route of ["/v1/webhooks/email", "/v1/query", "/health"]) {
          const res = yield* send(`${url}${route}`, {
            method: "OPTIONS", headers: { origin: SHOP, "access-control-request-method": "POST" },
          })
          expect(res.status, route).not.toBe(204)
          expect(res.headers.get("access-control-allow-origin"), route).toBeNull()
        }
      })))

  it("refuses a page from an origin its write key does not allow with a 403 naming the origin, and lands nothing from it", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const message = (id: string) => JSON.stringify({ userId: "u", event: "E", messageId: id })
        // The preflight carries no key, so it is granted; the real request is checked against the key's list.
        const preflight = yield* send(`${url}/v1/t`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } })
        expect(preflight.status).toBe(204)
        const evil = yield* send(`${url}/v1/t`, { headers: fromPage("https://evil.example"), body: message("evil") })
        expect(evil.status).toBe(403)
        expect(evil.body).toMatchObject({ success: false, rule: "origin_not_allowed" })
        expect(evil.body!["error"]).toContain("https://evil.example")
        expect(evil.headers.get("access-control-allow-origin")).toBe("https://evil.example")
        // The key in the body is checked the same way.
        const evilBodyKey = yield* send(`${url}/v1/b`, {
          headers: { origin: "https://evil.example" }, body: JSON.stringify({ writeKey: WRITE_KEY, batch: [JSON.parse(message("evil2"))] }),
        })
        expect(evilBodyKey.status).toBe(403)
        const shop = yield* send(`${url}/v1/t`, { headers: fromPage(SHOP), body: message("shop") })
        const server = yield* send(`${url}/v1/t`, { headers: { authorization: basicAuth(WRITE_KEY) }, body: message("server") })
        // Another key without a list still accepts every origin.
        const otherKey = yield* send(`${url}/v1/t`, { headers: fromPage("https://evil.example", "wk_other_key"), body: message("other") })
        expect([shop.status, server.status, otherKey.status]).toEqual([200, 200, 200])
        expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual([
          { message_id: "other" }, { message_id: "server" }, { message_id: "shop" },
        ])
      }), withAllowedOrigins(TEST_KEYS, parseAllowedOriginSpecs([`${WRITE_KEY}=${SHOP}|https://www.shop.example`]))))
})

describe("a key's allowed origins on the webhook routes", () => {
  it("refuse a page from another origin with 403, whether the key comes as ?write_key= or Basic auth, and land nothing from it", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const mail = (id: string) =>
          `From: victim@x.example\r\nTo: support@shop.example\r\nMessage-ID: <${id}@x.example>\r\n` +
          "Date: Mon, 2 Sep 2024 11:39:49 +0000\r\nSubject: hi\r\n\r\nforged\r\n"
        const post_ = (id: string) =>
          JSON.stringify({ id, network: "forum", author_handle: "h", text: "forged", created_at: "2024-09-02T11:39:49Z" })
        const evil = "https://evil.example"
        const byQuery = yield* send(`${url}/v1/webhooks/email?write_key=${WRITE_KEY}`, {
          headers: { origin: evil, "content-type": "text/plain" }, body: mail("evil-mail"),
        })
        const byBasic = yield* send(`${url}/v1/webhooks/social`, { headers: fromPage(evil), body: post_("evil-post") })
        for (const res of [byQuery, byBasic]) {
          expect(res.status).toBe(403)
          expect(res.body).toMatchObject({ success: false, rule: "origin_not_allowed" })
          expect(res.body!["error"]).toContain(evil)
        }
        // An allowed page, and a server (no Origin) with the same key, still land.
        const shop = yield* send(`${url}/v1/webhooks/social`, { headers: fromPage(SHOP), body: post_("shop-post") })
        const server = yield* send(`${url}/v1/webhooks/email?write_key=${WRITE_KEY}`, {
          headers: { "content-type": "text/plain" }, body: mail("server-mail"),
        })
        expect([shop.status, server.status]).toEqual([200, 200])
        expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual([
          { message_id: "forum:shop-post" }, { message_id: "server-mail@x.example" },
        ])
        expect(yield* query("SELECT count() AS n FROM dead_letters")).toEqual([{ n: "0" }])
      }), withAllowedOrigins(TEST_KEYS, parseAllowedOriginSpecs([`${WRITE_KEY}=${SHOP}`]))))
})

describe("allowed origins configuration", () => {
  it("parses KEY=ORIGIN|ORIGIN specs and compares origins as browsers send them", () => {
    const specs = parseAllowedOriginSpecs(["k1=https://Shop.example/|http://localhost:8080, k2=https://b.example:443"])
    expect([...specs]).toEqual([["k1", ["https://shop.example", "http://localhost:8080"]], ["k2", ["https://b.example"]]])
    const keys = writeKeys(withAllowedOrigins([{ writeKey: "k1", tenant: "t" }, { writeKey: "k3", tenant: "t" }], new Map([["k1", specs.get("k1")!]])))
    expect(keys.originAllowed("k1", "https://shop.example")).toBe(true)
    expect(keys.originAllowed("k1", "http://localhost:8080")).toBe(true)
    expect(keys.originAllowed("k1", "http://shop.example")).toBe(false)
    expect(keys.originAllowed("k1", "null")).toBe(false)
    expect(keys.originAllowed("k3", "https://anything.example")).toBe(true)
  })

  it("refuses a spec that is not an origin or names an unknown key, saying what to write", () => {
    expect(() => parseAllowedOriginSpecs(["k1"])).toThrow(/KEY=ORIGIN\|ORIGIN/)
    expect(() => parseAllowedOriginSpecs(["k1=shop.example"])).toThrow(/https:\/\//)
    expect(() => parseAllowedOriginSpecs(["k1=https://shop.example/path"])).toThrow(/no path.*https:\/\/shop\.example/)
    expect(() => normaliseOrigin("ftp://shop.example")).toThrow(/https:\/\/ or http:\/\//)
    expect(() => withAllowedOrigins([{ writeKey: "k1", tenant: "t" }], parseAllowedOriginSpecs(["k2=https://a.example"])))
      .toThrow(/write key "k2", which is not configured/)
  })
})

const archivedText = (dataDir: string): string => {
  const root = join(dataDir, "objects")
  const files = readdirSync(root, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ndjson.gz"))
  return files.map((f) => gunzipSync(readFileSync(join(root, f))).toString("utf8")).join("\n")
}

describe("a write key sent in the body", () => {
  it("is not archived, stored or dead-lettered, whether per message (analytics.js), per batch (Node SDK) or in a body that is not JSON", async () => {
    await withCollector(dir, (url) =>
      Effect.gen(function* () {
        const good = { type: "track", userId: "u", event: "E", messageId: "m1", writeKey: WRITE_KEY }
        const bad = { type: "track", userId: "u", event: "E", messageId: "m2", timestamp: "yesterday", writeKey: WRITE_KEY }
        const batch = yield* post(`${url}/v1/batch`, { writeKey: WRITE_KEY, batch: [good, bad], sentAt: new Date().toISOString() }, {})
        expect(batch.body).toMatchObject({ accepted: 1, rejected: [{ index: 1, rule: "bad_timestamp" }] })
        const single = yield* post(`${url}/v1/t`, { userId: "u", event: "E", messageId: "m3", writeKey: WRITE_KEY })
        expect(single.status).toBe(200)
        const broken = yield* post(`${url}/v1/t`, `{"writeKey": "${WRITE_KEY}", "userId": `, {})
        expect(broken.body).toMatchObject({ rule: "not_json" })
        const events = yield* query("SELECT * FROM events ORDER BY message_id")
        expect(events.map((e) => e["message_id"])).toEqual(["m1", "m3"])
        expect(JSON.stringify(events)).not.toContain(WRITE_KEY)
        const dead = yield* query<{ rule: string; payload: string }>("SELECT rule, payload FROM dead_letters ORDER BY rule")
        expect(dead.map((d) => d.rule)).toEqual(["bad_timestamp", "not_json"])
        expect(JSON.stringify(dead)).not.toContain(WRITE_KEY)
        expect(dead.find((d) => d.rule === "not_json")!.payload).toBe(`{"writeKey":"[redacted]", "userId": `)
      }))
    const archive = archivedText(dir)
    expect(archive).toContain("m1")
    expect(archive).toContain("m3")
    expect(archive).not.toContain(WRITE_KEY)
  })
})
