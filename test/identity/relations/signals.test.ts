// Relational signals are kept current in the warehouse as events land (materialized views into daily tables), read
// as of a date, under each message's current profile, and folded into the signals a marketer reads.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { DEFAULT_RELATIONS_CONFIG, parseRelationsConfig, signalsOf } from "../../../identity/relations/index.ts"
import type { CanonicalEvent } from "../../../ingest/message.ts"
import { Pipeline } from "../../../ingest/pipeline.ts"
import { readProfileHistories } from "../../../warehouse/relations.ts"
import { applyRetention, DEFAULT_RETENTION, parseRetention } from "../../../warehouse/retention.ts"
import { eventOn } from "../../support/events.ts"
import { freshDir, query, removeDir, withPipeline } from "../../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ANGRY = "This is terrible. The jacket arrived broken, nobody answers and I am furious. Awful, awful service."
const HAPPY = "Thank you so much, wonderful help and a fantastic jacket. I love it, best shop ever!"

/** Ann browses anonymously, then logs in (a merge of her browser into her account), buys, reads mail, complains. */
const annsMessages: ReadonlyArray<CanonicalEvent> = [
  eventOn("a-page-1", 1, { type: "page", event: "Home", anonymousId: "a1" }),
  eventOn("a-page-2", 2, { type: "page", event: "Product", anonymousId: "a1" }),
  eventOn("u-order-1", 3, { event: "Order Completed", userId: "u1", properties: { order_id: "o1", total: 40, revenue: 35 } }),
  eventOn("u-login", 4, { type: "identify", userId: "u1", anonymousId: "a1", traits: { email: "ann@x.example" } }),
  eventOn("u-order-2", 10, { event: "Order Completed", userId: "u1", properties: { order_id: "o2", revenue: 10 } }),
  eventOn("u-purchase", 11, { event: "Purchase", userId: "u1", properties: { value: 5 } }),
  eventOn("m-deliv", 12, { source: "sendgrid", channel: "email", event: "Email Delivered", identifiers: [{ kind: "email", value: "ann@x.example" }] }),
  eventOn("m-open", 13, { source: "sendgrid", channel: "email", event: "Email Opened", identifiers: [{ kind: "email", value: "ann@x.example" }] }),
  eventOn("m-machine", 13, { source: "sendgrid", channel: "email", event: "Email Opened", properties: { sg_machine_open: true }, identifiers: [{ kind: "email", value: "ann@x.example" }] }),
  eventOn("mail-angry", 20, { source: "email", channel: "email", event: "Email Received", text: ANGRY, identifiers: [{ kind: "email", value: "ann@x.example" }] }),
]

const histories = (asOf: string, source: "incremental" | "history" = "incremental") =>
  readProfileHistories("acme", asOf, source)

const byDay = <T extends { readonly days: ReadonlyArray<{ readonly day: string }> }>(h: T) =>
  ({ ...h, days: h.days.map((d) => ({ ...d, acts: [...(d as unknown as { acts: Array<unknown> }).acts].sort() })) })

describe("relational signals in the warehouse", () => {
  it("the daily tables the materialized views keep give the same histories as a recompute from event_rows and sentiment", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit(annsMessages, [])
      yield* (yield* Pipeline).submit([eventOn("bob-1", 5, { userId: "u2", type: "page", event: "Home" }),
        eventOn("bob-chat", 6, { source: "chat", channel: "chat", event: "Chat Conversation", anonymousId: "b1", text: HAPPY })], [])
      const incremental = yield* histories("2024-10-31")
      const recomputed = yield* histories("2024-10-31", "history")
      expect(incremental.length).toBeGreaterThanOrEqual(2)
      expect(incremental.map(byDay)).toEqual(recomputed.map(byDay))
      const [rows] = yield* query<{ n: string }>("SELECT count() AS n FROM relation_activity_daily WHERE tenant = 'acme'")
      expect(Number(rows!.n)).toBeGreaterThan(0)
    })))

  it("a merge after landing shows every message of the merged profiles under the one current profile", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit(annsMessages.slice(0, 3), [])
      expect((yield* histories("2024-10-31")).length).toBe(2)
      yield* (yield* Pipeline).submit(annsMessages.slice(3), [])
      const [ann, ...others] = yield* histories("2024-10-31")
      expect(others).toEqual([])
      const [{ profile_id }] = (yield* query<{ profile_id: string }>("SELECT DISTINCT profile_id FROM events WHERE tenant = 'acme'")) as [{ profile_id: string }]
      expect(ann!.profileId).toBe(profile_id)
      expect(ann!.days.map((d) => d.day)).toEqual(["2024-10-01", "2024-10-02", "2024-10-03", "2024-10-04", "2024-10-10", "2024-10-11", "2024-10-12", "2024-10-13", "2024-10-20"])
    })))

  it("as of a date, what happened later does not count", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit(annsMessages, [])
      const [ann] = yield* histories("2024-10-10")
      expect(ann!.days.at(-1)!.day).toBe("2024-10-10")
      expect(ann!.said).toEqual([])
      const s = signalsOf(ann!, "2024-10-10", DEFAULT_RELATIONS_CONFIG)
      expect(s).toMatchObject({ orders: 2, daysSinceLastOrder: 0, daysSinceFirstActive: 9, texts: 0, mailDelivered: 0 })
    })))
})

describe("retention of the relational tables", () => {
  it("CDP_RETENTION relations=MONTHS sets their TTL from when rows landed or were computed, and forever removes it", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit(annsMessages, [])
      const engines = () => query<{ name: string; engine_full: string }>(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND name IN " +
          "('relation_activity_daily', 'relation_voice_daily', 'relation_scores', 'relation_runs') ORDER BY name")
      expect(DEFAULT_RETENTION.relations).toBe(25)
      for (const t of yield* engines()) expect(t.engine_full, t.name).toMatch(/TTL toDateTime\((landed_at|computed_at)\) \+ toIntervalMonth\(25\)/)
      expect(yield* applyRetention(parseRetention("relations=3"))).toEqual(
        ["relation_activity_daily", "relation_voice_daily", "relation_scores", "relation_runs"])
      for (const t of yield* engines()) expect(t.engine_full, t.name).toMatch(/toIntervalMonth\(3\)/)
      const [landed] = yield* query<{ n: string }>(
        "SELECT count() AS n FROM relation_activity_daily WHERE tenant = 'acme' AND landed_at > now64(3) - INTERVAL 1 HOUR")
      expect(Number(landed!.n)).toBeGreaterThan(0)
      yield* applyRetention(parseRetention("relations=forever"))
      for (const t of yield* engines()) expect(t.engine_full, t.name).not.toMatch(/ TTL /)
    })))
})

describe("signals of a profile", () => {
  it("counts orders by the configured event names, each worth its total, else revenue, else value", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit(annsMessages, [])
      const [ann] = yield* histories("2024-10-31")
      expect(signalsOf(ann!, "2024-10-31", DEFAULT_RELATIONS_CONFIG)).toMatchObject({ orders: 2, spend: 50 })
      const custom = parseRelationsConfig('{"orderEvents":["Purchase"]}')
      expect(signalsOf(ann!, "2024-10-31", custom)).toMatchObject({ orders: 1, spend: 5 })
    })))

  it("reads visits, mail engagement without machine opens, channels and an open complaint", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit(annsMessages, [])
      const [ann] = yield* histories("2024-10-31")
      const s = signalsOf(ann!, "2024-10-31", DEFAULT_RELATIONS_CONFIG)
      expect(s).toMatchObject({
        visitDays: 5, daysSinceLastVisit: 20, mailDelivered: 1, mailOpened: 1, openRate: 1, channels: ["email", "web"],
        negative: 1, negativeContacts: 1, openComplaints: 1, daysSinceLastComplaint: 11, praise: 0,
      })
      expect(s.sentimentLevel!).toBeLessThan(0)
    })))

  it("a later positive service contact resolves an open complaint", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit([...annsMessages, eventOn("mail-happy", 25, {
        source: "email", channel: "email", event: "Email Received", text: HAPPY, identifiers: [{ kind: "email", value: "ann@x.example" }],
      })], [])
      const [ann] = yield* histories("2024-10-31")
      const s = signalsOf(ann!, "2024-10-31", DEFAULT_RELATIONS_CONFIG)
      expect(s).toMatchObject({ negativeContacts: 1, openComplaints: 0, praise: 1 })
      expect(s.sentimentTrend!).toBeGreaterThan(0)
    })))

  it("reads the tone over time: spread, flips, earlier against later half, before the first trouble; the longest quiet spell; the last text", () => {
    const web = (day: string) => ({ day, events: 1, acts: [["web/page", 1, 0] as const], reach: 0, engagement: 0, followers: 0 })
    const said = (id: string, day: string, channel: string, score: number, label: string) =>
      ({ messageId: id, atMs: Date.parse(`${day}T12:00:00Z`), channel, source: channel, score, label })
    const history = {
      profileId: "p1",
      days: ["2024-10-01", "2024-10-03", "2024-10-20", "2024-10-22"].map(web),
      // Out of time order on purpose: a profile recomputed after a merge may hold its texts so.
      said: [
        said("t3", "2024-10-21", "chat", -0.7, "negative"), said("t1", "2024-10-02", "social", 0.9, "positive"),
        said("t2", "2024-10-10", "chat", 0.8, "positive"), said("t4", "2024-10-25", "social", 0.85, "positive"),
      ],
    }
    const s = signalsOf(history, "2024-10-31", DEFAULT_RELATIONS_CONFIG)
    // positive, positive, negative, positive: two flips; the first chat (praise) is no trouble, the second is.
    // the last text (25 October) is six days before the date; the last visit (22 October) does not count as writing
    expect(s).toMatchObject({ sentimentFlips: 2, serviceContacts: 2, longestActiveGapDays: 17, daysSinceLastMessage: 6 })
    expect(signalsOf({ ...history, said: [] }, "2024-10-31", DEFAULT_RELATIONS_CONFIG).daysSinceLastMessage).toBeNull()
    expect(s.sentimentEarly!).toBeCloseTo(0.85, 9)
    expect(s.sentimentLate!).toBeCloseTo(0.075, 9)
    expect(s.sentimentBeforeTrouble!).toBeCloseTo(0.85, 9)
    // three visit days in the 20 days from the first activity to the first trouble
    expect(s.visitRateBeforeTrouble!).toBeCloseTo((3 / 20) * 7, 9)
    expect(s.sentimentSpread!).toBeGreaterThan(0.6)
    const calm = signalsOf({ ...history, said: history.said.filter((x) => x.label === "positive") }, "2024-10-31", DEFAULT_RELATIONS_CONFIG)
    expect(calm).toMatchObject({ sentimentFlips: 0, sentimentBeforeTrouble: null, visitRateBeforeTrouble: null })
    expect(calm.sentimentSpread!).toBeLessThan(0.05)
  })

  it("CDP_RELATIONS names a wrong key or value", () => {
    expect(() => parseRelationsConfig('{"orders":["x"]}')).toThrow(/unknown key "orders"/)
    expect(() => parseRelationsConfig('{"newDays":0}')).toThrow(/newDays must be a whole number of days/)
    // A window past every date the warehouse holds: cdp relations summary answered with a RangeError's stack.
    expect(() => parseRelationsConfig('{"windowDays":1e9}')).toThrow(/windowDays must be a whole number of days from 1 to 3650/)
    expect(parseRelationsConfig('{"windowDays":3650}').windowDays).toBe(3650)
    expect(() => parseRelationsConfig('{"orderEvents":"Order Completed"}')).toThrow(/orderEvents must be an array of strings/)
  })
})
