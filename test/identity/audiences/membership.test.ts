// Membership kept current: entries and exits as events land, each with its cause, in the changes feed (read by
// cursor) and as Audience Entered / Exited events that land with the profile; a consent withdrawal makes an exit; an
// edit is in the history; an erasure removes the person's membership and changes.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../../consent/keys.ts"
import { eraseSubject } from "../../../consent/registry.ts"
import { resolveSubject } from "../../../consent/subject.ts"
import {
  audienceChangesSince, audienceHistory, audienceMembers, BadCursor, createAudience, editAudience, refreshAudiences,
} from "../../../identity/audiences/index.ts"
import type { CanonicalEvent } from "../../../ingest/message.ts"
import { Pipeline } from "../../../ingest/pipeline.ts"
import { freshDir, query, removeDir } from "../../support/pipeline.ts"
import { prefs, submit, web, withConsent } from "../../consent/support.ts"
import { AS_OF, landPeople, names } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const at = (daysAgo: number) => new Date(AS_OF - daysAgo * 86_400_000).toISOString()

const refresh = Effect.gen(function* () {
  const pipeline = yield* Pipeline
  const emit = (events: ReadonlyArray<CanonicalEvent>) => pipeline.submit(events, [], { archive: false })
  return yield* refreshAudiences({ tenant: "acme", emit, asOfMs: AS_OF })
})

const RECENT_BUYERS = { event: "Order Completed", withinDays: 30 }

describe("audience membership", () => {
  it("records entries and exits with their causes as events land, in the feed and as events with the profile", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const audience = yield* createAudience("acme", { name: "Recent buyers", purpose: "Personalization", condition: RECENT_BUYERS }, "test:marketer")
      // Personalization needs consent: only ann gave it, though bob bought too (40 days ago, outside the window anyway).
      expect(yield* refresh).toMatchObject({ audiences: 1, entered: 1, exited: 0 })
      const who = yield* names
      const first = yield* audienceChangesSince("acme", audience.id, undefined, 100)
      expect(first.changes.map((c) => [who.get(c.profileId), c.change, c.cause])).toEqual([
        ["ann", "entered", 'matched: events "Order Completed" >= 1 in the last 30 days (3)'],
      ])
      expect(first.cursor).toBe(first.changes[0]!.seq)
      // Nothing new: the same cursor back, no changes.
      expect(yield* refresh).toMatchObject({ entered: 0, exited: 0 })
      expect(yield* audienceChangesSince("acme", audience.id, first.cursor, 100)).toEqual({ changes: [], cursor: first.cursor })

      // bob consents and buys: he enters.
      yield* submit([
        web("bob-consent", at(2), { userId: "bob", type: "identify", event: "", context: prefs({ Personalization: true }) }),
        web("bob-o2", at(1), { userId: "bob", event: "Order Completed" }),
      ])
      expect(yield* refresh).toMatchObject({ entered: 1, exited: 0 })
      // ann withdraws her consent: she exits, and the cause says so.
      yield* submit([web("ann-withdraw", at(0.5), { userId: "ann", type: "identify", event: "", context: prefs({ Personalization: false }) })])
      expect(yield* refresh).toMatchObject({ entered: 0, exited: 1 })
      const later = yield* audienceChangesSince("acme", audience.id, first.cursor, 100)
      expect(later.changes.map((c) => [who.get(c.profileId), c.change, c.cause])).toEqual([
        ["bob", "entered", 'matched: events "Order Completed" >= 1 in the last 30 days (1)'],
        ["ann", "exited", "consent withdrawn (or processing restricted) for Personalization"],
      ])

      // The changes landed as events about the profile, through the pipeline.
      const landed = yield* query<{ event: string; profile_id: string; properties: string }>(
        "SELECT event, profile_id, properties FROM events WHERE tenant = 'acme' AND source = 'audiences' ORDER BY timestamp, message_id")
      expect(landed.map((e) => [e.event, who.get(e.profile_id)])).toEqual([
        ["Audience Entered", "ann"], ["Audience Entered", "bob"], ["Audience Exited", "ann"],
      ])
      expect(JSON.parse(landed[0]!.properties)).toMatchObject({ audience_id: audience.id, audience_name: "Recent buyers", purpose: "Personalization", seq: first.cursor })

      // An edit: bob no longer matches, the cause names the condition that stopped matching and the value it saw.
      yield* editAudience("acme", audience.id, { condition: { and: [RECENT_BUYERS, { trait: "plan", equals: "pro" }] } }, "test:lead", "pro only")
      expect(yield* refresh).toMatchObject({ entered: 0, exited: 1 })
      const edited = yield* audienceChangesSince("acme", audience.id, later.cursor, 100)
      expect(edited.changes.map((c) => [who.get(c.profileId), c.change, c.cause])).toEqual([
        ["bob", "exited", 'no longer matched: trait "plan" = "pro" ("free")'],
      ])
      expect(yield* audienceMembers("acme", audience.id)).toEqual({ members: [], next: null })
      const history = yield* audienceHistory("acme", audience.id)
      expect(history.map((h) => [h.version, h.actor, h.changes[0]!.split(":")[0], h.note])).toEqual([
        [1, "test:marketer", "created", ""], [2, "test:lead", "condition", "pro only"],
      ])

      // The feed pages by cursor without skipping or repeating.
      const seen: Array<string> = []
      let cursor: string | undefined
      for (;;) {
        const page = yield* audienceChangesSince("acme", audience.id, cursor, 2)
        if (page.changes.length === 0) break
        seen.push(...page.changes.map((c) => c.seq))
        cursor = page.cursor
      }
      expect(seen).toHaveLength(4)
      expect(seen.map(BigInt)).toEqual(seen.map(BigInt).sort((a, b) => (a < b ? -1 : 1)))
      expect(new Set(seen).size).toBe(4)
      expect(yield* Effect.flip(audienceChangesSince("acme", audience.id, "1; DROP TABLE x", 10))).toBeInstanceOf(BadCursor)
    })), 60_000)

  it("erasure removes a person's membership and changes", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const audience = yield* createAudience("acme", { name: "Everyone with a city", purpose: "EmailMarketing", condition: { trait: "city", exists: true } }, "test")
      expect(yield* refresh).toMatchObject({ entered: 2 })
      const who = yield* names
      const bob = [...who].find(([, u]) => u === "bob")![0]
      const count = (table: string) =>
        Effect.map(query<{ n: string }>(`SELECT count() AS n FROM ${table} WHERE profile_id = {p:String}`, { p: bob }), (r) => Number(r[0]!.n))
      expect(yield* count("audience_members")).toBe(1)
      expect(yield* count("audience_changes")).toBe(1)
      const beforeErasure = (yield* audienceChangesSince("acme", audience.id, undefined, 100)).cursor
      yield* eraseSubject(yield* resolveSubject("acme", "user_id:bob"))
      expect(yield* count("audience_members")).toBe(0)
      expect(yield* count("audience_changes")).toBe(0)
      // ann's stay.
      expect((yield* audienceMembers("acme", audience.id)).members.map((m) => who.get(m.profileId))).toEqual(["ann"])
      // The next refresh does not bring bob back (his events are gone) and records nothing about him.
      yield* refresh
      expect(yield* count("audience_changes")).toBe(0)
      // A later change gets a number above every number given before the erasure, bob's included.
      const before = (yield* audienceChangesSince("acme", audience.id, undefined, 100)).cursor
      expect(BigInt(before) < BigInt(beforeErasure)).toBe(true)
      yield* editAudience("acme", audience.id, { condition: { trait: "city", equals: "Paris" } }, "test")
      yield* refresh
      const after = yield* audienceChangesSince("acme", audience.id, before, 100)
      expect(after.changes.map((c) => [who.get(c.profileId), c.change])).toEqual([["ann", "exited"]])
      expect(BigInt(after.cursor) > BigInt(beforeErasure)).toBe(true)
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7))))), 60_000)
})
