// Leaves that read stores of their own (the latest relations run, sentiment through merges), refreshing only the
// profiles a write touched, and the serve refresher reacting to the writes it hears instead of a fixed tick.
import { Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import {
  audienceChangesSince, type Condition, ConditionInvalid, createAudience, HeardChanges, keepAudiencesCurrent, parseCondition, previewAudience,
  refreshAudiences, refreshAudiencesFor,
} from "../../../identity/audiences/index.ts"
import type { CanonicalEvent } from "../../../ingest/message.ts"
import { Pipeline } from "../../../ingest/pipeline.ts"
import { storeScores, type StoredScore } from "../../../warehouse/relations.ts"
import { Warehouse } from "../../../warehouse/warehouse.ts"
import { onWarehouseWrite } from "../../../warehouse/writes.ts"
import { freshDir, query, removeDir } from "../../support/pipeline.ts"
import { submit, web, withConsent } from "../../consent/support.ts"
import { AS_OF, landPeople, names, profileOfUser } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const at = (daysAgo: number) => new Date(AS_OF - daysAgo * 86_400_000).toISOString()

const previewOf = (condition: Condition) =>
  Effect.gen(function* () {
    const node = parseCondition(condition)
    if (node instanceof ConditionInvalid) throw node
    const who = yield* names
    const p = yield* previewAudience("acme", "EmailMarketing", node, 100, AS_OF)
    return p.sample.map((s) => [who.get(s.profileId) ?? s.profileId, s.conditions.map((c) => c.value).join(",")]).sort()
  })

const score = (profileId: string, relationshipType: string, healthScore: number, churnRisk: number): StoredScore => ({
  profileId, relationshipType, healthScore, churnRisk, sentimentLevel: null, sentimentTrend: null, factors: [], signals: {},
})

describe("leaves with stores of their own", () => {
  it("relationship, health and churn risk read the latest relations run; a profile it did not score matches none", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const ann = yield* profileOfUser("ann")
      const bob = yield* profileOfUser("bob")
      // Computed now (runs are kept 25 months from when they were computed), each as of a date in the data.
      const now = Date.now()
      yield* storeScores("acme", "2024-10-01", [score(ann, "at_risk", 30, 0.8), score(bob, "advocate", 90, 0.1)], now - 60_000)
      // The later run scores ann only: bob's scores of the earlier run are history, not his scores now.
      yield* storeScores("acme", "2024-10-30", [score(ann, "advocate", 85, 0.25)], now - 30_000)
      expect(yield* previewOf({ relationship: { in: ["advocate"] } })).toEqual([["ann", "advocate"]])
      expect(yield* previewOf({ relationship: { in: ["at_risk"] } })).toEqual([])
      expect(yield* previewOf({ health: { op: ">=", value: 0 } })).toEqual([["ann", "85"]])
      // Unscored is not a health of 0.
      expect(yield* previewOf({ health: { op: "<", value: 50 } })).toEqual([])
      expect(yield* previewOf({ churnRisk: { op: "<=", value: 1 } })).toEqual([["ann", "0.25"]])
      // Another tenant's run changes nothing for acme.
      yield* storeScores("other", "2024-10-31", [score(bob, "detractor", 5, 0.9)], now)
      expect(yield* previewOf({ relationship: { in: ["advocate", "detractor"] } })).toEqual([["ann", "advocate"]])
    })), 60_000)

  it("a text's sentiment counts for the profile its message belongs to now, after a merge moved it", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      // dan writes in the chat before logging in, and logs in later: the two profiles merge.
      yield* submit([web("dan-order", at(6), { userId: "dan", event: "Order Completed" })])
      yield* submit([web("dan-chat", at(5), { anonymousId: "anon-dan", event: "Chat Message", channel: "chat", source: "chat", text: "terrible, awful service, I hate it" })])
      yield* submit([web("dan-login", at(4), { userId: "dan", anonymousId: "anon-dan", type: "identify", event: "" })])
      const current = yield* query<{ message_id: string; profile_id: string; landed: string }>(
        "SELECT e.message_id AS message_id, e.profile_id AS profile_id, r.profile_id AS landed FROM events AS e " +
          "INNER JOIN event_rows AS r ON r.message_id = e.message_id WHERE e.tenant = 'acme' AND e.message_id LIKE 'dan-%' ORDER BY message_id")
      // The case this test is about: one profile now, and the text landed under a profile that is no longer its own.
      const dan = current[0]!.profile_id
      expect(current.map((r) => [r.message_id, r.profile_id])).toEqual([["dan-chat", dan], ["dan-login", dan], ["dan-order", dan]])
      expect(current[0]!.landed).not.toBe(dan)
      const who = yield* names
      const named = (rows: ReadonlyArray<ReadonlyArray<string>>) => rows.map((r) => (r[0] === dan ? "dan" : who.get(r[0]!) ?? r[0])).sort()
      const negative = named(yield* previewOf({ sentiment: { of: "latest", op: "<", value: 0 } }))
      expect(negative).toEqual(["bob", "dan"])
      const average = named(yield* previewOf({ sentiment: { of: "average", withinDays: 30, op: "<", value: 0 } }))
      expect(average).toEqual(["bob", "dan"])
      // Asked about dan alone (as after a write), the moved text is found through the narrow read too.
      yield* createAudience("acme", { name: "Unhappy", purpose: "EmailMarketing", condition: { sentiment: { of: "latest", op: "<", value: 0 } } }, "test")
      expect(yield* refreshAudiencesFor(new Map([["acme", new Set([dan])]]), { asOfMs: AS_OF })).toMatchObject({ entered: 1, exited: 0 })
    })), 60_000)
})

const emitThrough = Effect.gen(function* () {
  const pipeline = yield* Pipeline
  return (events: ReadonlyArray<CanonicalEvent>) => pipeline.submit(events, [], { archive: false })
})

describe("refreshing the profiles a write touched", () => {
  it("re-evaluates only the profiles given, with the same entries and exits a full refresh finds", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const emit = yield* emitThrough
      const audience = yield* createAudience("acme", { name: "Pro", purpose: "EmailMarketing", condition: { trait: "plan", equals: "pro" } }, "test")
      const who = yield* names
      const ann = yield* profileOfUser("ann")
      const causes = (cursor?: string) => Effect.map(audienceChangesSince("acme", audience.id, cursor, 100),
        (r) => ({ cursor: r.cursor, changes: r.changes.map((c) => [who.get(c.profileId), c.change, c.cause]) }))
      // ann and cat match; asked about ann only, only ann enters.
      expect(yield* refreshAudiencesFor(new Map([["acme", new Set([ann])]]), { emit, asOfMs: AS_OF })).toMatchObject({ audiences: 1, entered: 1, exited: 0 })
      const first = yield* causes()
      expect(first.changes).toEqual([["ann", "entered", 'matched: trait "plan" = "pro" ("pro")']])
      // Nothing changed for ann: asked again, nothing.
      expect(yield* refreshAudiencesFor(new Map([["acme", new Set([ann])]]), { emit, asOfMs: AS_OF })).toMatchObject({ entered: 0, exited: 0 })
      // ann downgrades: she leaves, with the condition that stopped matching and the value it saw.
      yield* submit([web("ann-down", at(0.1), { userId: "ann", type: "identify", event: "", traits: { plan: "free" } })])
      expect(yield* refreshAudiencesFor(new Map([["acme", new Set([ann])]]), { emit, asOfMs: AS_OF })).toMatchObject({ entered: 0, exited: 1 })
      const second = yield* causes(first.cursor)
      expect(second.changes).toEqual([["ann", "exited", 'no longer matched: trait "plan" = "pro" ("free")']])
      // A full refresh afterwards finds only what the partial one was not asked about: cat.
      expect(yield* refreshAudiences({ tenant: "acme", emit, asOfMs: AS_OF })).toMatchObject({ entered: 1, exited: 0 })
      expect((yield* causes(second.cursor)).changes).toEqual([["cat", "entered", 'matched: trait "plan" = "pro" ("pro")']])
      // The refresh's own Audience events are news only to an audience that looks at them (asked as of now: they are
      // stamped with the time they were emitted).
      yield* createAudience("acme", { name: "Told", purpose: "EmailMarketing", condition: { event: "Audience Entered" } }, "test")
      expect(yield* refreshAudiencesFor(new Map(), { emit, own: new Map([["acme", new Set([ann])]]) })).toMatchObject({ audiences: 1, entered: 1 })
      // A profile that is gone (never had events) is no member and enters nothing; one of another tenant neither.
      expect(yield* refreshAudiencesFor(new Map([["acme", new Set(["prof_nobody"])], ["other", new Set([ann])]]), { emit, asOfMs: AS_OF }))
        .toMatchObject({ entered: 0, exited: 0 })
    })), 60_000)

  it("a landed batch is heard as the profiles it touched; a relations run or an erasure as a full refresh", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const warehouse = yield* Warehouse
      const heard = new HeardChanges()
      const stop = onWarehouseWrite(warehouse, (w) => heard.hear(w))
      yield* submit([web("bob-more", at(1), { userId: "bob", event: "Order Completed" })])
      const bob = yield* profileOfUser("bob")
      const batch = heard.take()
      expect(batch.full).toBe(false)
      expect([...batch.profiles.get("acme") ?? []]).toEqual([bob])
      yield* storeScores("acme", "2024-10-30", [score(bob, "advocate", 85, 0.25)], Date.now())
      expect(heard.take().full).toBe(true)
      yield* warehouse.command("ALTER TABLE event_rows DELETE WHERE tenant = 'acme' AND message_id = 'bob-more' SETTINGS mutations_sync = 2")
      expect(heard.take().full).toBe(true)
      // The refresher's own bookkeeping is no news.
      heard.hear({ kind: "insert", table: "audience_changes", rows: [{ tenant: "acme", profile_id: bob }] })
      expect(heard.take()).toMatchObject({ full: false, profiles: new Map(), own: new Map() })
      // Its Audience Entered/Exited events are kept apart: news only to audiences that look at them.
      heard.hear({ kind: "insert", table: "event_rows", rows: [{ tenant: "acme", profile_id: bob, source: "audiences" }] })
      expect(heard.take()).toMatchObject({ full: false, profiles: new Map(), own: new Map([["acme", new Set([bob])]]) })
      stop()
    })), 60_000)

  it("the serve refresher records an entry as soon as its events land, without waiting for a full refresh", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const emit = yield* emitThrough
      const audience = yield* createAudience("acme", { name: "Pro", purpose: "EmailMarketing", condition: { trait: "plan", equals: "pro" } }, "test")
      // A full refresh only at the start (idle of an hour): anything later is the write-driven path.
      const fiber = yield* Effect.forkChild(keepAudiencesCurrent({ emit, tick: "50 millis", idle: "1 hour" }))
      const changes = Effect.map(audienceChangesSince("acme", audience.id, undefined, 100), (r) => r.changes)
      const waitFor = (n: number) => Effect.gen(function* () {
        for (let i = 0; i < 300; i++) {
          const c = yield* changes
          if (c.length >= n) return c
          yield* Effect.sleep("50 millis")
        }
        return yield* changes
      })
      expect((yield* waitFor(2)).map((c) => c.change)).toEqual(["entered", "entered"])
      yield* submit([web("bob-up", at(0.1), { userId: "bob", type: "identify", event: "", traits: { plan: "pro" } })])
      const after = yield* waitFor(3)
      const bob = yield* profileOfUser("bob")
      expect(after.slice(2).map((c) => [c.profileId, c.change])).toEqual([[bob, "entered"]])
      yield* Fiber.interrupt(fiber)
    })), 60_000)
})
