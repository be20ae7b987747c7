// The profile read on a real collector: its cache never serves a profile older than what has landed (a read after
// a 2xx sees that message), repeated reads are served from it, and a profile with 100,000 identifiers answers with
// its identifiers page by page. Every answer is checked against ingest/openapi.json.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { profileCacheStats } from "../../ingest/profile-read.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { type ApiBody, withApi as collectorApi } from "../support/api.ts"
import { getChecked } from "../support/profile-api.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withApi = <A, E>(program: Parameters<typeof collectorApi<A, E>>[1]) => collectorApi(dir, program)

type Body = ApiBody

const get = (url: string, path: string) => getChecked(url, path)

const profile = (identifier: string, query = "") => `/v1/profiles/${encodeURIComponent(identifier)}?tenant=acme${query}`

describe("profile read cache", () => {
  it("serves repeated reads from memory and never a profile older than what landed before the read", () =>
    withApi((url) => Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const warehouse = yield* Warehouse
      yield* pipeline.submit([eventOn("m1", 1, { type: "identify", userId: "u1", traits: { plan: "free" } })], [])
      const first = yield* get(url, profile("user_id:u1"))
      expect(first.body["traits"]["plan"]).toMatchObject({ value: "free" })
      const before = profileCacheStats(warehouse)
      for (let i = 0; i < 5; i++) expect((yield* get(url, profile("user_id:u1"))).body).toEqual(first.body)
      const after = profileCacheStats(warehouse)
      expect(after.hits - before.hits).toBe(5)
      // Each landing is seen by the very next read, whether it changes traits, adds an event or merges.
      for (let day = 2; day <= 6; day++) {
        yield* pipeline.submit([eventOn(`m${day}`, day, { type: "identify", userId: "u1", traits: { plan: `p${day}` } })], [])
        const now = (yield* get(url, profile("user_id:u1"))).body
        expect(now["traits"]["plan"]).toMatchObject({ value: `p${day}` })
        expect(now["timeline"]["events"][0]["messageId"]).toBe(`m${day}`)
      }
      yield* pipeline.submit([eventOn("v1", 7, { anonymousId: "a9", traits: { city: "Leeds" } }), eventOn("join", 8, { userId: "u1", anonymousId: "a9" })], [])
      const merged = (yield* get(url, profile("user_id:u1"))).body
      expect(merged["traits"]["city"]).toMatchObject({ value: "Leeds" })
      expect(merged["identifiers"].map((i: Body) => `${i.kind}:${i.value}`)).toEqual(["anonymous_id:a9", "user_id:u1"])
      // Another tenant's reader never gets acme's cached profile.
      expect((yield* get(url, "/v1/profiles/user_id%3Au1?tenant=globex")).status).toBe(404)
      // What is cached is a copy: changing an answer does not change the next one.
      const again = yield* get(url, profile("user_id:u1"))
      expect(again.body).toEqual(merged)
    })), 60_000)
})

describe("profile read cache and erasure", () => {
  it("never serves an erased person's cached profile", () =>
    withApi((url) => Effect.gen(function* () {
      yield* (yield* Pipeline).submit([eventOn("m1", 1, { type: "identify", userId: "u1", traits: { email: "erase.me@x.example", name: "Ann" } })], [])
      const warehouse = yield* Warehouse
      const cached = yield* get(url, profile("user_id:u1"))
      const hits = profileCacheStats(warehouse).hits
      expect((yield* get(url, profile("user_id:u1"))).body).toEqual(cached.body)
      expect(profileCacheStats(warehouse).hits).toBe(hits + 1)
      yield* eraseSubject(yield* resolveSubject("acme", "erase.me@x.example")).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7))))
      const after = yield* get(url, profile("user_id:u1"))
      expect(after.status).toBe(404)
      expect(JSON.stringify(after.body)).not.toContain("Ann")
      expect((yield* get(url, `/v1/profiles/${cached.body["profileId"]}?tenant=acme`)).status).toBe(404)
    })), 60_000)
})

describe("a profile with 100,000 identifiers", () => {
  it("answers with the first 100 identifiers and their count, and pages on by cursor", () =>
    withApi((url) => Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const warehouse = yield* Warehouse
      yield* pipeline.submit([eventOn("m1", 1, { userId: "u1" })], [])
      // 100 messages of the profile stating 1,000 device ids each (as an operator's links could gather them).
      const [owner] = yield* warehouse.query<{ profile_id: string }>("SELECT profile_id FROM events WHERE tenant = 'acme' AND message_id = 'm1'")
      yield* warehouse.command(
        "INSERT INTO event_rows (tenant, message_id, type, event, profile_id, channel, source, timestamp, received_at, properties, traits, context, extra) " +
          "SELECT 'acme', concat('dev-', toString(number)), 'track', 'Seen', {profile:String}, 'web', 'segment', " +
          "toDateTime64('2024-10-02 00:00:00', 3, 'UTC') + number, now64(3), '{}', '{}', '{}', '{}' FROM numbers(100)",
        { profile: owner!.profile_id })
      yield* warehouse.command(
        "INSERT INTO identity_observations (tenant, message_id, timestamp, sightings, refused) " +
          "SELECT 'acme', concat('dev-', toString(number)), toDateTime64('2024-10-02 00:00:00', 3, 'UTC') + number, " +
          "arrayMap(i -> ('device_id', concat('d', leftPad(toString(number * 1000 + i), 6, '0')), concat('D', toString(number * 1000 + i)), 'verified'), range(1000)), [] " +
          "FROM numbers(100)")
      const first = yield* get(url, profile("user_id:u1"))
      expect(first.status).toBe(200)
      expect(first.body["identifierCount"]).toBe(100_001)
      expect(first.body["identifiers"]).toHaveLength(100)
      expect(first.body["identifiers"][0]).toMatchObject({ kind: "device_id", value: "d000000", raw: "D0", messages: 1 })
      // Page on from the profile's cursor with the biggest pages: each page continues where the last ended, in
      // (kind, value) order, none repeated (the whole walk is 100 pages: three show the keyset holds).
      const seen: Array<string> = first.body["identifiers"].map((i: Body) => `${i.kind}:${i.value}`)
      let cursor: string | null = first.body["identifiersNextCursor"]
      for (let pages = 0; pages < 3; pages++) {
        const page = yield* get(url, `/v1/profiles/user_id%3Au1/identifiers?tenant=acme&limit=1000&cursor=${cursor}`)
        expect(page.status).toBe(200)
        expect(page.body["identifierCount"]).toBe(100_001)
        expect(page.body["identifiers"]).toHaveLength(1000)
        seen.push(...page.body["identifiers"].map((i: Body) => `${i.kind}:${i.value}`))
        cursor = page.body["nextCursor"]
      }
      expect(seen).toHaveLength(3100)
      expect(seen.at(-1)).toBe("device_id:d003099")
      expect(new Set(seen).size).toBe(seen.length)
      expect([...seen].sort()).toEqual(seen)
    })), 120_000)

  it("refuses a bad page size or cursor naming the parameter", () =>
    withApi((url) => Effect.gen(function* () {
      yield* (yield* Pipeline).submit([eventOn("m1", 1, { userId: "u1" })], [])
      expect(yield* get(url, "/v1/profiles/user_id%3Au1/identifiers?tenant=acme&limit=0")).toMatchObject({ status: 400, body: { field: "limit" } })
      expect(yield* get(url, "/v1/profiles/user_id%3Au1/identifiers?tenant=acme&limit=1001")).toMatchObject({ status: 400, body: { field: "limit" } })
      expect(yield* get(url, "/v1/profiles/user_id%3Au1/identifiers?tenant=acme&cursor=nope")).toMatchObject({ status: 400, body: { field: "cursor" } })
      expect(yield* get(url, "/v1/profiles/user_id%3Anobody/identifiers?tenant=acme")).toMatchObject({ status: 404 })
      const one = yield* get(url, "/v1/profiles/user_id%3Au1/identifiers?tenant=acme&limit=1")
      expect(one.body).toMatchObject({ identifierCount: 1, nextCursor: null, identifiers: [{ kind: "user_id", value: "u1" }] })
    })), 60_000)
})
