// The profile read cache is emptied precisely: whatever changes a profile (a new event, a merge, a split, a consent
// withdrawal, a restriction, an erasure: test/identity/profile-read.test.ts) shows at the very next read, while a
// landing for someone else leaves the cached answer in place. Every answer is checked against ingest/openapi.json.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { restrictSubject } from "../../consent/restriction.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { defaultIdentityConfig, rebuildIdentity, recordOperation } from "../../identity/index.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { PREFERENCE_UPDATED } from "../../consent/index.ts"
import { profileCacheStats, reachOf } from "../../ingest/profile-read.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { eventOn } from "../support/events.ts"
import { onWarehouseWrite } from "../../warehouse/writes.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { type ApiBody, withApi as collectorApi } from "../support/api.ts"
import { getChecked } from "../support/profile-api.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withApi = <A, E>(program: Parameters<typeof collectorApi<A, E>>[1]) => collectorApi(dir, program)

type Body = ApiBody

const get = (url: string, identifier: string) => getChecked(url, `/v1/profiles/${encodeURIComponent(identifier)}?tenant=acme&events=50`)

/** Reads twice: the second read must be a cache hit with the same answer. */
const cached = (url: string, identifier: string) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const first = yield* get(url, identifier)
    expect(first.status).toBe(200)
    const hits = profileCacheStats(warehouse).hits
    expect((yield* get(url, identifier)).body).toEqual(first.body)
    expect(profileCacheStats(warehouse).hits).toBe(hits + 1)
    return first.body
  })

const timelineIds = (body: Body) => (body["timeline"]["events"] as Array<Body>).map((e) => e["messageId"])

describe("the profile cache after writes", () => {
  it("a new event of the profile shows at the next read; a landing for someone else keeps the cached answer", () =>
    withApi((url) => Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const warehouse = yield* Warehouse
      yield* pipeline.submit([eventOn("m1", 1, { type: "identify", userId: "u1", traits: { plan: "free" } }), eventOn("o1", 1, { userId: "u2" })], [])
      const before = yield* cached(url, "user_id:u1")
      yield* cached(url, "user_id:u2")
      // Someone else's event: u1's answer stays cached (served without a read).
      yield* pipeline.submit([eventOn("o2", 2, { userId: "u2" }), eventOn("n1", 2, { userId: "u3" })], [])
      const hits = profileCacheStats(warehouse).hits
      expect((yield* get(url, "user_id:u1")).body).toEqual(before)
      expect(profileCacheStats(warehouse).hits).toBe(hits + 1)
      // ...while u2's answer was dropped and shows its new event.
      expect(timelineIds((yield* get(url, "user_id:u2")).body)).toEqual(["o2", "o1"])
      // u1's own event shows at once: a new event, and a changed trait.
      yield* pipeline.submit([eventOn("m2", 3, { type: "identify", userId: "u1", traits: { plan: "pro" } })], [])
      const after = (yield* get(url, "user_id:u1")).body
      expect(timelineIds(after)).toEqual(["m2", "m1"])
      expect(after["traits"]["plan"]).toMatchObject({ value: "pro" })
    })), 60_000)

  it("answers read from the same profile (asked by two identifiers, two page sizes) are all dropped by a write to it", () =>
    withApi((url) => Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const warehouse = yield* Warehouse
      yield* pipeline.submit([eventOn("m1", 1, { type: "identify", userId: "u1", traits: { email: "ann@x.example" } }), eventOn("o1", 1, { userId: "u2" })], [])
      const short = (identifier: string) => getChecked(url, `/v1/profiles/${encodeURIComponent(identifier)}?tenant=acme&events=1`)
      yield* cached(url, "user_id:u1")
      yield* cached(url, "email:ann@x.example")
      expect((yield* short("user_id:u1")).status).toBe(200)
      yield* cached(url, "user_id:u2")
      yield* pipeline.submit([eventOn("m2", 2, { userId: "u1" })], [])
      const hits = profileCacheStats(warehouse).hits
      expect(timelineIds((yield* get(url, "user_id:u1")).body)).toEqual(["m2", "m1"])
      expect(timelineIds((yield* get(url, "email:ann@x.example")).body)).toEqual(["m2", "m1"])
      expect(timelineIds((yield* short("user_id:u1")).body)).toEqual(["m2"])
      expect(profileCacheStats(warehouse).hits).toBe(hits)
      // u2's answer was kept; once a write reaches it, it goes too.
      yield* cached(url, "user_id:u2")
      yield* pipeline.submit([eventOn("o2", 3, { userId: "u2" })], [])
      expect(timelineIds((yield* get(url, "user_id:u2")).body)).toEqual(["o2", "o1"])
      expect(profileCacheStats(warehouse).hits).toBe(hits + 2)
    })), 60_000)

  it("no write of landing messages empties the cache: new people, a consent change and a merge reach only the profiles they name", () =>
    withApi(() => Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const warehouse = yield* Warehouse
      // Every write the pipeline makes to land these: one that the cache cannot place would drop every answer at each
      // batch (a table it does not know), which is what reads/s beside steady landing would show.
      const broad: Array<string> = []
      const stop = onWarehouseWrite(warehouse, (write) => {
        const reach = reachOf(write)
        if (reach.all || reach.tenants.size > 0) broad.push(write.kind === "insert" ? write.table : write.sql.slice(0, 80))
      })
      yield* pipeline.submit([
        eventOn("signup", 1, { type: "identify", userId: "u1", traits: { email: "ann@x.example" } }),
        eventOn("visit", 2, { anonymousId: "v9", channel: "chat", source: "chat", text: "the parcel came late", traits: { city: "Leeds" } }),
        eventOn("prefs", 2, { userId: "u1", event: PREFERENCE_UPDATED, context: { consent: { categoryPreferences: { Advertising: false } } } }),
      ], [])
      yield* pipeline.submit([eventOn("visit-mail", 3, { anonymousId: "v9", channel: "chat", source: "chat", identifiers: [{ kind: "email", value: "ann@x.example" }] })], [])
      stop()
      expect(yield* query<{ n: string }>("SELECT count() AS n FROM profile_merges")).toEqual([{ n: "1" }])
      expect(yield* query<{ n: string }>("SELECT count() AS n FROM consent_ledger")).not.toEqual([{ n: "0" }])
      expect(broad).toEqual([])
    })), 60_000)

  it("a merge shows on both sides at the next read, and so does a split", () =>
    withApi((url) => Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* pipeline.submit([
        eventOn("signup", 1, { type: "identify", userId: "u1", traits: { email: "ann@x.example" } }),
        eventOn("visit", 2, { anonymousId: "v9", channel: "chat", source: "chat", traits: { city: "Leeds" } }),
      ], [])
      const user = yield* cached(url, "user_id:u1")
      const visitor = yield* cached(url, "anonymous_id:v9")
      expect(visitor["profileId"]).not.toBe(user["profileId"])
      // The visitor states the user's address: the two are one person now.
      yield* pipeline.submit([eventOn("visit-mail", 3, { anonymousId: "v9", channel: "chat", source: "chat", identifiers: [{ kind: "email", value: "ann@x.example" }] })], [])
      const merged = (yield* get(url, "user_id:u1")).body
      expect(timelineIds(merged)).toEqual(["visit-mail", "visit", "signup"])
      expect(merged["traits"]["city"]).toMatchObject({ value: "Leeds" })
      const visitorNow = (yield* get(url, "anonymous_id:v9")).body
      expect(visitorNow["profileId"]).toBe(merged["profileId"])
      // Both cached again, then an operator takes the address off the user: a split.
      yield* cached(url, "user_id:u1")
      yield* cached(url, "anonymous_id:v9")
      yield* recordOperation({ tenant: "acme", kind: "remove", a: "email:ann@x.example", b: "", reason: "typed by someone else" })
      yield* rebuildIdentity(defaultIdentityConfig(), "acme")
      const split = (yield* get(url, "user_id:u1")).body
      expect(timelineIds(split)).toEqual(["signup"])
      expect(split["traits"]["city"]).toBeUndefined()
      const visitorSplit = (yield* get(url, "anonymous_id:v9")).body
      expect(timelineIds(visitorSplit)).toEqual(["visit-mail", "visit"])
      // The visitor's history: the merge it gave (from it, read by profile_merges' key) and the split it took (to it).
      const side = (m: Body) => (m["from"] === visitorSplit["profileId"] ? "from" : m["to"] === visitorSplit["profileId"] ? "to" : "neither")
      expect((visitorSplit["merges"] as Array<Body>).map((m) => [m["kind"], side(m)])).toEqual([["merge", "from"], ["split", "to"]])
    })), 90_000)

  it("a consent withdrawal and a restriction show at the next read", () =>
    withApi((url) => Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const purpose = (body: Body, name: string) => (body["consent"]["purposes"] as Array<Body>).find((c) => c["purpose"] === name)
      yield* pipeline.submit([eventOn("yes", 1, {
        type: "identify", userId: "u1", traits: { email: "ann@x.example" },
        context: { consent: { categoryPreferences: { Analytics: true, Advertising: true } } },
      })], [])
      const granted = yield* cached(url, "user_id:u1")
      expect(purpose(granted, "Advertising")).toMatchObject({ state: "granted", allowed: true })
      yield* pipeline.submit([eventOn("no", 2, {
        type: "identify", userId: "u1", context: { consent: { categoryPreferences: { Analytics: true, Advertising: false } } },
      })], [])
      const withdrawn = (yield* get(url, "user_id:u1")).body
      expect(purpose(withdrawn, "Advertising")).toMatchObject({ state: "denied", allowed: false })
      expect(withdrawn["consent"]["restricted"]).toBe(false)
      yield* cached(url, "user_id:u1")
      yield* restrictSubject(yield* resolveSubject("acme", "email:ann@x.example"), true, "dsr_test", Date.now())
      const restricted = (yield* get(url, "user_id:u1")).body
      expect(restricted["consent"]["restricted"]).toBe(true)
      expect(purpose(restricted, "Analytics")).toMatchObject({ allowed: false })
    })), 60_000)
})

describe("what a write reaches", () => {
  it("names the profiles, messages and identifiers of known tables, nothing for tables no read uses, everything otherwise", () => {
    const landed = reachOf({ kind: "insert", table: "event_rows", rows: [{ tenant: "acme", profile_id: "prof_a", message_id: "m1" }] })
    expect(landed).toMatchObject({ all: false, keys: new Set(["p\u0000acme\u0000prof_a"]) })
    const moved = reachOf({ kind: "insert", table: "profile_merges", rows: [{ tenant: "acme", from_profile: "prof_a", to_profile: "prof_b" }] })
    expect(moved.keys).toEqual(new Set(["p\u0000acme\u0000prof_a", "p\u0000acme\u0000prof_b"]))
    expect(reachOf({ kind: "insert", table: "audience_members", rows: [{ tenant: "acme" }] })).toMatchObject({ all: false, keys: new Set() })
    // The Kafka edge stores a data key per new person key: landing over Kafka must not empty the cache.
    expect(reachOf({ kind: "insert", table: "bus_data_keys", rows: [{ tenant: "acme" }] })).toMatchObject({ all: false, keys: new Set() })
    expect(reachOf({ kind: "insert", table: "relation_runs", rows: [{ tenant: "acme" }] }).tenants).toEqual(new Set(["acme"]))
    expect(reachOf({ kind: "insert", table: "a_new_table", rows: [{ tenant: "acme" }] }).all).toBe(true)
    // An erasure's mutation, a scratch table, an INSERT ... SELECT: everything.
    expect(reachOf({ kind: "command", sql: "ALTER TABLE event_rows DELETE WHERE (tenant, message_id) IN (SELECT t, m FROM scratch)", params: undefined }).all).toBe(true)
    expect(reachOf({ kind: "command", sql: "INSERT INTO event_rows SELECT * FROM numbers(1)", params: undefined }).all).toBe(true)
    // Consent stripping names its messages.
    const stripped = reachOf({
      kind: "command", sql: "DELETE FROM sentiment WHERE tenant = {tenant:String} AND message_id IN {ids:Array(String)}", params: { tenant: "acme", ids: ["m1"] },
    })
    expect(stripped).toMatchObject({ all: false, keys: new Set(["m\u0000acme\u0000m1"]) })
  })
})
