// The profile API on a real collector (embedded engine): GET /v1/profiles/{identifier}/events pages a profile's
// cross-channel timeline by keyset (no row skipped or repeated while events land), filters it, follows merges and
// splits; GET /v1/profiles/{identifier} shows consent per purpose and the timeline's first page. Every response,
// errors included, is checked against ingest/openapi.json.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { defaultIdentityConfig, rebuildIdentity, recordOperation } from "../../identity/index.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { eventOn } from "../support/events.ts"
import { checkResponse, OPENAPI } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { type ApiBody, TEST_ADMIN_TOKEN, withApi as collectorApi } from "../support/api.ts"
import { getChecked } from "../support/profile-api.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const TOKEN = TEST_ADMIN_TOKEN

const withApi = <A, E>(program: Parameters<typeof collectorApi<A, E>>[1]) => collectorApi(dir, program)

type Body = ApiBody

const get = getChecked

const events = (identifier: string, query = "") => `/v1/profiles/${encodeURIComponent(identifier)}/events?tenant=acme${query}`

const at = (iso: string) => iso
const ev = (id: string, timestamp: string, fields: Partial<CanonicalEvent> = {}) =>
  eventOn(id, 1, { userId: "u1", timestamp: at(timestamp), ...fields })

/** 40 events of u1 on three channels, every fourth pair sharing a timestamp (the message id breaks the tie). */
const history = Array.from({ length: 40 }, (_, i) => {
  const channel = (["web", "email", "chat"] as const)[i % 3]!
  const second = Math.floor(i / 2) * 2 + (i % 4 === 0 ? 1 : 0)
  return ev(`m-${String(i).padStart(2, "0")}`, new Date(Date.UTC(2024, 9, 1, 12, 0, second)).toISOString(), {
    channel, source: channel === "web" ? "segment" : channel, event: i % 5 === 0 ? "Order Completed" : "Viewed",
  })
})

const key = (e: { timestamp: string; messageId: string }) => `${e.timestamp}|${e.messageId}`

describe("GET /v1/profiles/{identifier}/events", () => {
  it("pages newest first by (timestamp, message id); while events land older and newer, each earlier row comes exactly once", () =>
    withApi((url) => Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* pipeline.submit(history, [])
      const seen: Array<{ timestamp: string; messageId: string }> = []
      let cursor: string | null = null
      let page = 0
      do {
        const res: { status: number; body: Body } = yield* get(url, events("user_id:u1", `&limit=7${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`))
        expect(res.status).toBe(200)
        seen.push(...(res.body["events"] as Array<{ timestamp: string; messageId: string }>))
        cursor = res.body["nextCursor"] as string | null
        // Between pages, the same person does more: one event newer than everything, one older than everything,
        // and one exactly at the last row's time (above or below it by message id).
        page++
        yield* pipeline.submit([
          ev(`new-${page}`, new Date(Date.UTC(2024, 9, 2, 0, 0, page)).toISOString()),
          ev(`old-${page}`, new Date(Date.UTC(2024, 8, 1, 0, 0, 60 - page)).toISOString()),
          ev(`m-${String(page).padStart(2, "0")}-same`, seen[seen.length - 1]!.timestamp),
        ], [])
      } while (cursor !== null && page < 50)
      expect(cursor).toBeNull()
      const ids = seen.map((e) => e.messageId)
      expect(new Set(ids).size).toBe(ids.length)
      const earlier = ids.filter((id) => /^m-\d\d$/.test(id))
      expect(earlier.sort()).toEqual(history.map((e) => e.messageId).sort())
      // Strictly descending by (timestamp, message id) across every page.
      for (let i = 1; i < seen.length; i++) expect(key(seen[i - 1]!) > key(seen[i]!)).toBe(true)
      // The rows that landed below a cursor come on later pages; those above it are on a fresh first page.
      expect(ids.filter((id) => id.startsWith("old-")).length).toBeGreaterThan(0)
      const fresh = yield* get(url, events("user_id:u1", "&limit=3"))
      expect(fresh.body["events"].map((e: Body) => e["messageId"])).toEqual([`new-${page}`, `new-${page - 1}`, `new-${page - 2}`])
    })))

  it("filters by channel, event and time; ties at one time are ordered by message id", () =>
    withApi((url) => Effect.gen(function* () {
      yield* (yield* Pipeline).submit(history, [])
      const all = (yield* get(url, events("user_id:u1", "&limit=1000"))).body["events"] as Array<Body>
      expect(all).toHaveLength(40)
      expect(all[0]).toMatchObject({ messageId: "m-39", timestamp: "2024-10-01T12:00:38.000Z" })
      const tie = all.filter((e) => e["timestamp"] === "2024-10-01T12:00:02.000Z").map((e) => e["messageId"])
      expect(tie).toEqual(["m-03", "m-02"])

      const mailAndChat = (yield* get(url, events("user_id:u1", "&limit=1000&channel=email,chat"))).body["events"] as Array<Body>
      expect(mailAndChat.length).toBe(history.filter((e) => e.channel !== "web").length)
      expect(new Set(mailAndChat.map((e) => e["channel"]))).toEqual(new Set(["email", "chat"]))
      const repeated = (yield* get(url, events("user_id:u1", "&limit=1000&channel=email&channel=chat"))).body["events"]
      expect(repeated).toEqual(mailAndChat)

      const orders = (yield* get(url, events("user_id:u1", "&limit=1000&event=Order%20Completed&channel=web"))).body["events"] as Array<Body>
      expect(orders.map((e) => e["messageId"]).sort()).toEqual(
        history.filter((e) => e.event === "Order Completed" && e.channel === "web").map((e) => e.messageId).sort())

      const window = (yield* get(url, events("user_id:u1", "&limit=1000&since=2024-10-01T12:00:10Z&until=2024-10-01T12:00:20Z"))).body["events"] as Array<Body>
      expect(window.length).toBeGreaterThan(0)
      expect(window.every((e) => e["timestamp"] >= "2024-10-01T12:00:10.000Z" && e["timestamp"] < "2024-10-01T12:00:20.000Z")).toBe(true)
      expect(window.length).toBe(all.filter((e) => e["timestamp"] >= "2024-10-01T12:00:10.000Z" && e["timestamp"] < "2024-10-01T12:00:20.000Z").length)

      // Filters hold across pages: a cursor of a filtered page continues the filtered timeline.
      const first = (yield* get(url, events("user_id:u1", "&limit=4&channel=chat"))).body
      const second = (yield* get(url, events("user_id:u1", `&limit=100&channel=chat&cursor=${first["nextCursor"]}`))).body
      expect([...first["events"], ...second["events"]].map((e: Body) => e["messageId"])).toEqual(
        all.filter((e) => e["channel"] === "chat").map((e) => e["messageId"]))
      expect(second["nextCursor"]).toBeNull()
    })))

  it("shows the profile's current events: a merge brings the other's in, a split takes them out", () =>
    withApi((url) => Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* pipeline.submit([
        ev("signup", "2024-10-01T00:00:00.000Z", { type: "identify", traits: { email: "ann@x.example" } }),
        eventOn("visit", 3, { anonymousId: "v9", channel: "chat", source: "chat" }),
      ], [])
      const ids = (identifier: string) =>
        get(url, events(identifier)).pipe(Effect.map((r) => (r.body["events"] as Array<Body>).map((e) => e["messageId"])))
      expect(yield* ids("user_id:u1")).toEqual(["signup"])
      yield* pipeline.submit([eventOn("visit-mail", 4, { anonymousId: "v9", channel: "chat", source: "chat", identifiers: [{ kind: "email", value: "ann@x.example" }] })], [])
      expect(yield* ids("user_id:u1")).toEqual(["visit-mail", "visit", "signup"])
      yield* recordOperation({ tenant: "acme", kind: "remove", a: "email:ann@x.example", b: "", reason: "typed by someone else" })
      yield* rebuildIdentity(defaultIdentityConfig(), "acme")
      expect(yield* ids("user_id:u1")).toEqual(["signup"])
      expect(yield* ids("anonymous_id:v9")).toEqual(["visit-mail", "visit"])
    })))

  it("refuses a channel that is none of the channels with a 400 naming channel and listing them", () =>
    withApi((url) => Effect.gen(function* () {
      yield* (yield* Pipeline).submit(history.slice(0, 3), [])
      for (const query of ["&channel=calls", "&channel=web,calls", "&channel=email&channel=Chat"]) {
        const res = yield* get(url, events("user_id:u1", query))
        expect(res, query).toMatchObject({ status: 400, body: { field: "channel" } })
        expect(res.body["error"] as string, query).toContain("one of web, email, chat, call, social")
      }
      expect((yield* get(url, events("user_id:u1", "&channel=web,email,chat,call,social"))).status).toBe(200)
    })))

  it("refuses bad parameters with a 400 naming the parameter, an unknown person with 404, no token with 401", () =>
    withApi((url) => Effect.gen(function* () {
      yield* (yield* Pipeline).submit(history.slice(0, 3), [])
      for (const [query, field] of [
        ["&limit=0", "limit"], ["&limit=1001", "limit"], ["&limit=ten", "limit"], ["&cursor=not-a-cursor", "cursor"],
        [`&cursor=${Buffer.from('["x","m-1"]').toString("base64url")}`, "cursor"], ["&channel=Web!", "channel"], ["&channel=web,,email", "channel"],
        ["&event=", "event"], ["&since=yesterday", "since"], ["&until=2024-13-45", "until"],
        ["&since=2024-10-02&until=2024-10-01", "until"],
      ] as const) {
        const res = yield* get(url, events("user_id:u1", query))
        expect(res, query).toMatchObject({ status: 400, body: { field } })
      }
      expect(yield* get(url, "/v1/profiles/user_id%3Au1/events?tenant=")).toMatchObject({ status: 400, body: { field: "tenant" } })
      expect(yield* get(url, events("shoe:9"))).toMatchObject({ status: 400, body: { rule: "bad_identifier", field: "/identifier" } })
      expect(yield* get(url, events("user_id:nobody"))).toMatchObject({ status: 404, body: { rule: "profile_not_found" } })
      expect(yield* get(url, events("prof_AAAAAAAAAAAAAAAAAAAA"))).toMatchObject({ status: 404 })
      expect(yield* get(url, events("user_id:u1"), { token: null })).toMatchObject({ status: 401, body: { rule: "missing_token" } })
      expect(yield* get(url, events("user_id:u1"), { token: "wrong" })).toMatchObject({ status: 401 })
      expect(yield* get(url, events("user_id:u1"), { method: "DELETE" })).toMatchObject({ status: 405 })
    })))
})

describe("GET /v1/profiles/{identifier}", () => {
  it("shows consent per purpose, traits with source and time, identifiers with provenance and the timeline's first page", () =>
    withApi((url) => Effect.gen(function* () {
      yield* (yield* Pipeline).submit([
        ...history,
        ev("consent", "2024-10-03T00:00:00.000Z", {
          type: "identify", traits: { email: "ann@x.example", plan: "pro" },
          context: { consent: { categoryPreferences: { Analytics: true, Advertising: false } } },
        }),
      ], [])
      const res = yield* get(url, `/v1/profiles/${encodeURIComponent("email:ann@x.example")}?tenant=acme&events=5`)
      expect(res.status).toBe(200)
      const p = res.body
      expect(p["traits"]["plan"]).toMatchObject({ value: "pro", source: "segment" })
      expect(p["traits"]["plan"]["at"]).toMatch(/^2024-10-03/)
      expect(p["identifiers"]).toContainEqual(expect.objectContaining({ kind: "email", value: "ann@x.example", messages: 1 }))
      const purpose = (name: string) => (p["consent"]["purposes"] as Array<Body>).find((c) => c["purpose"] === name)
      expect(purpose("Analytics")).toMatchObject({ state: "granted", allowed: true, since: { messageId: "consent" } })
      expect(purpose("Advertising")).toMatchObject({ state: "denied", allowed: false })
      expect(purpose("EmailMarketing")).toMatchObject({ state: "unknown", allowed: true })
      expect(p["consent"]["restricted"]).toBe(false)
      expect(p["timeline"]["events"].map((e: Body) => e["messageId"])).toEqual(["consent", "m-39", "m-38", "m-36", "m-37"])
      const next = yield* get(url, events("email:ann@x.example", `&limit=2&cursor=${p["timeline"]["nextCursor"]}`))
      expect(next.body["events"].map((e: Body) => e["messageId"])).toEqual(["m-35", "m-34"])

      // The consent route is described by the same document.
      expect((yield* get(url, `/v1/consent/${encodeURIComponent("user_id:u1")}?tenant=acme`)).status).toBe(200)
      expect((yield* get(url, "/v1/consent/user_id%3Anobody?tenant=acme")).status).toBe(404)
      // A profile id is found only in its own tenant, on both routes (the consent route answered 200 with default
      // states for another tenant's or an unknown profile id).
      const profileId = String(p["profileId"])
      expect((yield* get(url, `/v1/consent/${profileId}?tenant=acme`)).status).toBe(200)
      expect((yield* get(url, `/v1/consent/${profileId}?tenant=other`)).status).toBe(404)
      expect((yield* get(url, `/v1/profiles/${profileId}?tenant=other`)).status).toBe(404)
      expect((yield* get(url, "/v1/consent/prof_nobody000000?tenant=acme")).status).toBe(404)
      expect((yield* get(url, "/v1/consent/shoe%3A9")).status).toBe(400)
      expect((yield* get(url, "/v1/consent/user_id%3Au1", { token: null })).status).toBe(401)
      // The profile route's own refusals.
      expect(yield* get(url, "/v1/profiles/user_id%3Au1?tenant=acme&events=x")).toMatchObject({ status: 400, body: { field: "events" } })
      expect(yield* get(url, "/v1/profiles/user_id%3Anobody?tenant=acme")).toMatchObject({ status: 404 })
      expect(yield* get(url, "/v1/profiles/user_id%3Au1", { token: null })).toMatchObject({ status: 401 })
      expect(yield* get(url, "/v1/profiles/%E0%A4%A?tenant=acme")).toMatchObject({ status: 400, body: { field: "/identifier" } })
    })))
})

describe("ingest/openapi.json", () => {
  it("is OpenAPI 3.1 and its check refuses a body off the schema and a status it does not describe", () => {
    expect(OPENAPI.openapi).toBe("3.1.0")
    // Other routes' paths are described beside these.
    expect(Object.keys(OPENAPI.paths)).toEqual(expect.arrayContaining([
      "/v1/profiles/{identifier}", "/v1/profiles/{identifier}/events", "/v1/profiles/{identifier}/identifiers", "/v1/consent/{identifier}",
    ]))
    const page = { tenant: "acme", profileId: "prof_x", events: [], nextCursor: null }
    expect(() => checkResponse("/v1/profiles/{identifier}/events", "GET", 200, page)).not.toThrow()
    expect(() => checkResponse("/v1/profiles/{identifier}/events", "GET", 200, { ...page, nextCursor: 3 })).toThrow(/nextCursor/)
    expect(() => checkResponse("/v1/profiles/{identifier}/events", "GET", 200, {
      ...page, events: [{ messageId: "m", timestamp: "2024-10-01 12:00:00", channel: "web", source: "segment", type: "track", event: "E" }],
    })).toThrow(/timestamp/)
    expect(() => checkResponse("/v1/profiles/{identifier}", "GET", 418, {})).toThrow(/does not describe status 418/)
    expect(() => checkResponse("/v1/profiles/{identifier}", "GET", 400, { success: false, error: "x" })).toThrow(/rule/)
  })
})
