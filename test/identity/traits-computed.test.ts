// Computed traits (CDP_COMPUTED_TRAITS): counts and sums in windows, first/last, most frequent, latest sentiment;
// backfilled when defined, kept current by the warehouse as events land, right across merges and splits, shown in
// the profile read and queryable in SQL (computed_traits), previewed before saving.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { readSetting, SETTINGS } from "../../cli/config.ts"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import {
  defaultIdentityConfig, parseComputedTraits, parseDefinition, parseIdentifier, previewComputedTrait, rebuildIdentity, recordOperation, showProfile,
  syncComputedTraits,
} from "../../identity/index.ts"
import type { IdentifierRef } from "../../identity/index.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ref = (text: string) => parseIdentifier(text) as IdentifierRef
const DAY = 86_400_000
/** An event `daysAgo` days before now (windows count back from today). */
const ago = (id: string, daysAgo: number, fields: Parameters<typeof eventOn>[2]) =>
  eventOn(id, 1, { timestamp: new Date(Date.now() - daysAgo * DAY).toISOString(), ...fields })
const order = (id: string, daysAgo: number, user: string, total: number, product: string) =>
  ago(id, daysAgo, { userId: user, event: "Order Completed", properties: { total, product } })

const SETTING = parseComputedTraits(JSON.stringify({
  "*": [
    { name: "orders_30d", kind: "count", events: ["Order Completed"], windowDays: 30 },
    { name: "spend", kind: "sum", events: ["Order Completed"], of: "properties.total" },
    { name: "first_product", kind: "first", events: ["Order Completed"], of: "properties.product" },
    { name: "last_product", kind: "last", events: ["Order Completed"], of: "properties.product" },
    { name: "favourite_product", kind: "most_frequent", events: ["Order Completed"], of: "properties.product" },
    { name: "top_channel", kind: "most_frequent", of: "channel" },
  ],
  acme: [{ name: "mood", kind: "latest_sentiment", channels: ["chat"] }],
}))

const computed = (identifier: string) =>
  Effect.map(showProfile("acme", ref(identifier)), (p) => Object.fromEntries(Object.entries(p.computedTraits).map(([k, t]) => [k, t.value])))

/** The computed_traits view's values of the profile holding an identifier. */
const viewValues = (kind: string, value: string) =>
  Effect.gen(function* () {
    const rows = yield* query<{ name: string; value: string; number: number | null }>(
      "SELECT name, value, number FROM computed_traits WHERE tenant = 'acme' AND profile_id = " +
        "(SELECT profile_id FROM profiles WHERE tenant = 'acme' AND has(identifiers, ({kind:String}, {value:String})))", { kind, value })
    return Object.fromEntries(rows.map((r) => [r.name, r.value]))
  })

describe("computed traits", () => {
  it("backfills what landed before the definition and adds what lands after, in the profile read and in SQL", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      // Before the traits are defined: an old order (outside 30 days) and a recent one.
      yield* pipeline.submit([order("o1", 60, "u1", 10, "beans"), order("o2", 5, "u1", 25.5, "grinder")], [])
      expect(yield* syncComputedTraits(SETTING)).toHaveLength(7)
      expect(yield* computed("user_id:u1")).toMatchObject({
        orders_30d: 1, spend: 35.5, first_product: "beans", last_product: "grinder", top_channel: "web", mood: null,
      })
      // After: the materialized views keep them current as events land (a late-arriving older order too).
      yield* pipeline.submit([order("o3", 2, "u1", 4.5, "beans"), order("o4", 90, "u1", 100, "kettle")], [])
      yield* pipeline.submit([ago("c1", 1, { userId: "u1", channel: "chat", source: "chat", text: "I love this coffee, thank you so much!" })], [])
      const now = yield* computed("user_id:u1")
      expect(now).toMatchObject({ orders_30d: 2, spend: 140, first_product: "kettle", last_product: "beans", favourite_product: "beans", top_channel: "web" })
      expect(now["mood"]).toMatchObject({ label: "positive" })
      const view = yield* viewValues("user_id", "u1")
      expect(view).toMatchObject({ orders_30d: "2", spend: "140", first_product: '"kettle"', last_product: '"beans"', favourite_product: '"beans"' })
      // Syncing the same setting again changes nothing (no second backfill: counts stay).
      expect(yield* syncComputedTraits(SETTING)).toEqual([])
      expect((yield* computed("user_id:u1"))["spend"]).toBe(140)
      // A definition that changes starts over from the events; one that leaves the setting is no longer shown.
      const changed = parseComputedTraits(JSON.stringify({ "*": [{ name: "spend", kind: "sum", events: ["Order Completed"], of: "properties.total", windowDays: 30 }] }))
      expect(yield* syncComputedTraits(changed)).toContain("*/spend")
      expect(yield* computed("user_id:u1")).toEqual({ spend: 30 })
      expect(yield* viewValues("user_id", "u1")).toEqual({ spend: "30" })
    })), 60_000)

  it("a blank value states nothing: identifies and pages (no event name) and a property set to \"\" count for no value", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      const blank = (id: string, daysAgo: number, type: "identify" | "page") => ago(id, daysAgo, { userId: "u1", type, event: "" })
      const viewed = (id: string, daysAgo: number, product: string) =>
        ago(id, daysAgo, { userId: "u1", event: "Product Viewed", properties: { product } })
      const events = parseComputedTraits(JSON.stringify({ "*": [
        { name: "top_event", kind: "most_frequent", of: "event" },
        { name: "first_event", kind: "first", of: "event" },
        { name: "last_product", kind: "last", of: "properties.product" },
      ] }))
      // Landed before the definitions (the backfill reads them) and after (the materialized view adds them).
      yield* pipeline.submit([blank("i1", 9, "identify"), blank("p1", 8, "page"), blank("p2", 7, "page"), viewed("v1", 6, "mug")], [])
      yield* syncComputedTraits(events)
      yield* pipeline.submit([blank("p3", 5, "page"), blank("p4", 4, "page"), viewed("v2", 3, "cup"), viewed("v3", 2, "")], [])
      // Before: "" (the identifies' and pages' empty names, six of eight events) and "" as the last product.
      expect(yield* computed("user_id:u1")).toEqual({ top_event: "Product Viewed", first_event: "Product Viewed", last_product: "cup" })
      expect(yield* viewValues("user_id", "u1")).toEqual({ top_event: '"Product Viewed"', first_event: '"Product Viewed"', last_product: '"cup"' })
      const preview = yield* previewComputedTrait("acme", parseDefinition('{"name":"top","kind":"most_frequent","of":"event"}'))
      expect(preview.sample.map((s) => s.value)).toEqual(["Product Viewed"])
    })), 60_000)

  it("a merge adds the other profile's events, a split takes them out again", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* syncComputedTraits(SETTING)
      yield* pipeline.submit([order("o1", 3, "u1", 10, "beans"), ago("v1", 2, { anonymousId: "a9", event: "Order Completed", properties: { total: 7, product: "mug" } })], [])
      expect(yield* computed("anonymous_id:a9")).toMatchObject({ orders_30d: 1, spend: 7 })
      // The visitor gives Ann's address (unverified, so an operator can take it out again): one profile.
      yield* pipeline.submit([ago("u1-mail", 4, { userId: "u1", identifiers: [{ kind: "email", value: "ann@x.example" }] })], [])
      yield* pipeline.submit([ago("v2", 1, { anonymousId: "a9", source: "chat", channel: "chat", identifiers: [{ kind: "email", value: "ann@x.example" }] })], [])
      expect(yield* computed("user_id:u1")).toMatchObject({ orders_30d: 2, spend: 17, first_product: "beans", last_product: "mug" })
      expect(yield* viewValues("user_id", "u1")).toMatchObject({ orders_30d: "2", spend: "17" })
      yield* recordOperation({ tenant: "acme", kind: "remove", a: "email:ann@x.example", b: "", reason: "typed by someone else" })
      yield* rebuildIdentity(defaultIdentityConfig(), "acme")
      expect(yield* computed("user_id:u1")).toMatchObject({ orders_30d: 1, spend: 10, last_product: "beans" })
      expect(yield* computed("anonymous_id:a9")).toMatchObject({ orders_30d: 1, spend: 7, last_product: "mug" })
    })), 60_000)

  it("previews a definition over the tenant's profiles: a sample and the distribution, storing nothing", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit([
        order("o1", 3, "u1", 10, "beans"), order("o2", 2, "u1", 20, "beans"), order("o3", 1, "u2", 5, "mug"), ago("p1", 1, { userId: "u3", type: "page" }),
      ], [])
      const spend = yield* previewComputedTrait("acme", parseDefinition('{"name":"spend","kind":"sum","events":["Order Completed"],"of":"properties.total"}'))
      expect(spend.profiles).toBe(2)
      expect(spend.sample.map((s) => s.value).sort()).toEqual([30, 5])
      expect(spend.distribution).toMatchObject({ type: "number", min: 5, max: 30, mean: 17.5 })
      const fav = yield* previewComputedTrait("acme", parseDefinition('{"name":"fav","kind":"most_frequent","events":["Order Completed"],"of":"properties.product"}'))
      expect(fav.distribution).toEqual({ type: "values", top: [{ value: "beans", profiles: 1 }, { value: "mug", profiles: 1 }] })
      expect(yield* query("SELECT * FROM computed_trait_definitions")).toEqual([])
    })), 60_000)
})

describe("erasure", () => {
  it("reaches the computed traits' states: the erased person's values are gone, another's stay", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* syncComputedTraits(SETTING)
      yield* (yield* Pipeline).submit([
        order("o1", 3, "u1", 10, "beans"), ago("m1", 2, { type: "identify", userId: "u1", traits: { email: "erase.me@x.example" } }),
        order("o2", 2, "u2", 5, "mug"),
      ], [])
      const states = (user: string) => Effect.map(query<{ n: string }>(
        "SELECT count() AS n FROM computed_trait_states WHERE tenant = 'acme' AND profile_id IN (SELECT profile_id FROM events WHERE tenant = 'acme' AND user_id = {user:String})",
        { user }), (r) => Number(r[0]!.n))
      const owner = (yield* showProfile("acme", ref("user_id:u1"))).profileId
      expect(yield* states("u1")).toBeGreaterThan(0)
      yield* eraseSubject(yield* resolveSubject("acme", "erase.me@x.example"))
      const left = yield* query<{ n: string }>("SELECT count() AS n FROM computed_trait_states WHERE tenant = 'acme' AND profile_id = {owner:String}", { owner })
      expect(Number(left[0]!.n)).toBe(0)
      expect(yield* computed("user_id:u2")).toMatchObject({ spend: 5, last_product: "mug" })
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7))))), 60_000)
})

describe("CDP_COMPUTED_TRAITS", () => {
  it("refuses a bad definition naming the field", () => {
    expect(() => parseComputedTraits('{"*": [{"name": "spend", "kind": "sum"}]}')).toThrow(/^\/\*\/0\/of: is needed by sum/)
    expect(() => parseComputedTraits('{"*": [{"name": "Spend!", "kind": "count"}]}')).toThrow(/^\/\*\/0\/name: must be a lowercase name/)
    expect(() => parseComputedTraits('{"*": [{"name": "n", "kind": "median"}]}')).toThrow(/^\/\*\/0\/kind: must be one of count, sum/)
    expect(() => parseComputedTraits('{"*": [{"name": "n", "kind": "count", "window": 30}]}')).toThrow(/^\/\*\/0\/window: is not a field/)
    expect(() => parseComputedTraits('{"*": [{"name": "n", "kind": "count", "windowDays": 0}]}')).toThrow(/^\/\*\/0\/windowDays/)
    expect(() => parseComputedTraits('{"*": [{"name": "n", "kind": "sum", "of": "total"}]}')).toThrow(/^\/\*\/0\/of: must be "event", "channel" or "properties.NAME"/)
    expect(() => parseComputedTraits('{"*": [{"name": "n", "kind": "count"}], "acme": [{"name": "n", "kind": "count"}]}')).toThrow(/^\/acme\/0\/name: "n" is defined twice/)
    expect(() => parseComputedTraits("[")).toThrow(/^\/: not JSON/)
    // A sum adds numbers: of an event's name or channel it would always be 0.
    for (const of of ["event", "channel"]) {
      expect(() => parseComputedTraits(`{"*": [{"name": "n", "kind": "sum", "of": "${of}"}]}`)).toThrow(/^\/\*\/0\/of: sum adds numbers: of must be properties\.NAME/)
    }
    // A scope is "*" or a tenant name: ".." can never be one.
    for (const scope of ["..", ".", "a b", "x".repeat(65)]) {
      expect(() => parseComputedTraits(JSON.stringify({ [scope]: [{ name: "n", kind: "count" }] }))).toThrow(/must be "\*" \(every tenant\) or a tenant name/)
    }
    expect(() => parseDefinition('{"name": "m", "kind": "latest_sentiment", "of": "event"}')).toThrow(/latest_sentiment takes no of or events/)
    expect(parseComputedTraits("{}")).toEqual({})
  })

  it("refuses a tenant with more computed traits than CDP_MAX_COMPUTED_TRAITS allows, those for every tenant counted in", async () => {
    const def = (name: string) => ({ name, kind: "count" })
    const read = (traits: unknown, max?: string) => {
      const saved = { traits: process.env["CDP_COMPUTED_TRAITS"], max: process.env["CDP_MAX_COMPUTED_TRAITS"] }
      process.env["CDP_COMPUTED_TRAITS"] = JSON.stringify(traits)
      if (max === undefined) delete process.env["CDP_MAX_COMPUTED_TRAITS"]
      else process.env["CDP_MAX_COMPUTED_TRAITS"] = max
      return Effect.runPromise(Effect.result(readSetting(SETTINGS.computedTraits))).finally(() => {
        for (const [k, v] of [["CDP_COMPUTED_TRAITS", saved.traits], ["CDP_MAX_COMPUTED_TRAITS", saved.max]] as const) {
          if (v === undefined) delete process.env[k]
          else process.env[k] = v
        }
      })
    }
    const over = await read({ "*": [def("a")], acme: [def("b"), def("c")] }, "2")
    expect(over._tag).toBe("Failure")
    const message = (over as { failure: Error }).failure.message
    expect(message).toMatch(/^CDP_COMPUTED_TRAITS must be/)
    expect(message).toContain('tenant "acme" gets 3 computed traits')
    expect(message).toContain("CDP_MAX_COMPUTED_TRAITS allows at most 2 per tenant")
    expect((await read({ "*": [def("a")], acme: [def("b")] }, "2"))._tag).toBe("Success")
    // The default cap is 200 a tenant.
    expect((await read({ "*": [def("a")], acme: Array.from({ length: 199 }, (_, i) => def(`t${i}`)) }))._tag).toBe("Success")
    expect((await read({ "*": [def("a")], acme: Array.from({ length: 200 }, (_, i) => def(`t${i}`)) }))._tag).toBe("Failure")
  })
})
