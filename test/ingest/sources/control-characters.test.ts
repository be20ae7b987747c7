// Control characters other than tab and line breaks in free text (a NUL in a call's notes, in a chat line, in a
// Segment property) are removed from what is stored and scored, and counted: CRMs and Postgres-based tools refuse a
// NUL in text, and they break CSV exports. The raw archive keeps the item as it was sent, so nothing accepted is lost.
import { gunzipSync } from "node:zlib"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import type { CanonicalEvent } from "../../../ingest/message.ts"
import { ObjectStore } from "../../../ingest/objectstore.ts"
import { Pipeline } from "../../../ingest/pipeline.ts"
import { parseCallsWebhook } from "../../../ingest/sources/calls.ts"
import { parseChatWebhook } from "../../../ingest/sources/chat.ts"
import { type ImportedItem, splitItems } from "../../../ingest/sources/index.ts"
import { normaliseSegmentMessage, type SegmentMessage, segmentReceiveContext, validateSegmentMessage } from "../../../ingest/sources/segment.ts"
import { freshDir, query, removeDir, withPipeline } from "../../support/pipeline.ts"
import { context } from "./helpers.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const HEADER = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes"
const NOTE = "Refund\u0000 promised.\tCalled back\r\nat 5"
const CALLS = `${HEADER}\r\nCA1,2024-09-16T09:28:50Z,60,inbound,201-555-0150,Riley Chen,Billing,resolved,"${NOTE}"\r\n`
const LINE = "My zip\u0000 broke\u0007\u001b[2J"
const CHAT = JSON.stringify({
  conversation_id: "chat_1", visitor_id: "anon-1", started_at: "2024-10-24T01:31:13.728Z",
  messages: [{ from: "visitor", at: "2024-10-24T01:31:13.728Z", text: "Hi there" }, { from: "visitor", at: "2024-10-24T01:32:21.127Z", text: LINE }],
})

type Parsed = ReadonlyArray<ImportedItem> | Promise<ReadonlyArray<ImportedItem>>
const eventsOf = async (...parsed: ReadonlyArray<Parsed>): Promise<ReadonlyArray<CanonicalEvent>> =>
  splitItems((await Promise.all(parsed)).flat()).events

/** The raw bodies the archive holds, by message id. */
const archived = Effect.gen(function* () {
  const store = yield* ObjectStore
  const bodies = new Map<string, string>()
  for (const key of (yield* store.list("archive/")).filter((k) => k.endsWith(".ndjson.gz"))) {
    for (const line of gunzipSync((yield* store.get(key))!).toString("utf8").split("\n")) {
      if (line === "") continue
      const record = JSON.parse(line) as { messageId: string; body: unknown }
      bodies.set(record.messageId, typeof record.body === "string" ? record.body : JSON.stringify(record.body))
    }
  }
  return bodies
})

describe("control characters in free text", () => {
  it("a call note and a chat line holding NUL land without it, counted; the archive keeps them as sent", async () => {
    const ctx = context({ receivedAtMs: Date.now() })
    const events = await eventsOf(parseCallsWebhook(CALLS, ctx), parseChatWebhook(CHAT, ctx))
    await withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit(events, [])
      expect(yield* query("SELECT message_id, text FROM texts ORDER BY message_id")).toEqual([
        { message_id: "CA1", text: "Refund promised.\tCalled back\r\nat 5" },
        { message_id: "chat_1", text: "Hi there\nMy zip broke[2J" },
      ])
      expect(yield* query("SELECT message_id, JSONExtract(extra, 'control_characters_removed', 'UInt32') AS removed FROM events ORDER BY message_id"))
        .toEqual([{ message_id: "CA1", removed: 1 }, { message_id: "chat_1", removed: 3 }])
      const raw = yield* archived
      expect(raw.get("CA1")).toContain(NOTE)
      expect(JSON.parse(raw.get("chat_1")!).messages[1].text).toBe(LINE)
    }))
  }, 60_000)

  it("a vertical tab or form feed (a line break in older tools' exports) becomes a line break; text without any is unchanged", async () => {
    const [call] = await eventsOf(parseCallsWebhook(`${HEADER}\r\nCA2,2024-09-16T09:28:50Z,60,,,,,,"one\u000btwo\u000cthree"\r\n`, context()))
    expect([call!.text, call!.extra]).toEqual(["one\ntwo\nthree", { control_characters_removed: 2 }])
    const [clean] = await eventsOf(parseCallsWebhook(`${HEADER}\r\nCA3,2024-09-16T09:28:50Z,60,,,,,,"Fine,\tthanks\r\nbye"\r\n`, context()))
    expect([clean!.text, clean!.extra]).toEqual(["Fine,\tthanks\r\nbye", {}])
  })

  it("a Segment message's property and trait strings, at any depth, lose them likewise; its id and raw JSON do not change", () => {
    const message = {
      type: "track", event: "Review", userId: "u1", messageId: "m1",
      properties: { review: "Great\u0000 coffee", tags: ["ok", "bad\u0001tag"], nested: { note: "a\u001fb" }, stars: 5 },
      traits: { name: "Ann\u0000" },
    } as unknown as SegmentMessage
    const body = JSON.stringify(message)
    const event: CanonicalEvent = normaliseSegmentMessage(message, segmentReceiveContext("acme", Date.now(), undefined), { body, json: true })
    expect(event.properties).toEqual({ review: "Great coffee", tags: ["ok", "badtag"], nested: { note: "ab" }, stars: 5 })
    expect(event.traits).toEqual({ name: "Ann" })
    expect(event.extra).toEqual({ control_characters_removed: 4 })
    expect(event.raw?.body).toBe(body)
    expect(event.messageId).toBe("m1")
  })

  it("DEL and the C1 controls are removed from text too; a next line (U+0085) becomes a line break", async () => {
    const [call] = await eventsOf(parseCallsWebhook(`${HEADER}\r\nCA4,2024-09-16T09:28:50Z,60,,,,,,"one\u007f\u0085two\u0080\u009fthree \u00a0ok"\r\n`, context()))
    expect([call!.text, call!.extra]).toEqual(["one\ntwothree \u00a0ok", { control_characters_removed: 4 }])
  })

  it("a Segment message's context and unmapped fields (extra) lose them likewise, counted with the rest", () => {
    const message = {
      type: "track", event: "Viewed", anonymousId: "a1", messageId: "m2",
      context: { page: { title: "Home\u0000", path: "/" }, userAgent: "Mozilla\u007f/5.0", locale: "en-GB", traits: { email: "ann@example.com" } },
      properties: { note: "fine" },
      customerNote: "call\u0007 me\u009b", tags: ["a\u0000", 1],
    } as unknown as SegmentMessage
    const body = JSON.stringify(message)
    const event = normaliseSegmentMessage(message, segmentReceiveContext("acme", Date.now(), undefined), { body, json: true })
    expect(event.context).toEqual({ page: { title: "Home", path: "/" }, userAgent: "Mozilla/5.0", locale: "en-GB", traits: { email: "ann@example.com" } })
    expect(event.extra).toEqual({ customerNote: "call me", tags: ["a", 1], control_characters_removed: 5 })
    expect(event.properties).toEqual({ note: "fine" })
    expect(event.raw?.body).toBe(body)
  })

  it("a batch's context given to many messages is cleaned in each, and left the same object when clean", () => {
    const batchContext = { library: { name: "analytics.js\u0000" } }
    const ctx = { ...segmentReceiveContext("acme", Date.now(), undefined), batchContext }
    const [a, b] = ["m3", "m4"].map((messageId) => normaliseSegmentMessage({ type: "track", event: "E", userId: "u1", messageId } as unknown as SegmentMessage, ctx))
    expect([a!.context, b!.context, a!.extra, batchContext.library.name]).toEqual([
      { library: { name: "analytics.js" } }, { library: { name: "analytics.js" } }, { control_characters_removed: 1 }, "analytics.js\u0000",
    ])
    const clean = { library: { name: "analytics.js" } }
    const c = normaliseSegmentMessage({ type: "track", event: "E", userId: "u1", messageId: "m5" } as unknown as SegmentMessage, { ...ctx, batchContext: clean })
    expect(c.context).toBe(clean)
  })

  it("a connector's unmapped fields (extra) lose them: a chat transcript's and a call export's own columns", async () => {
    const chat = JSON.stringify({ conversation_id: "chat_2", visitor_id: "anon-2", started_at: "2024-10-24T01:31:13.728Z", messages: [], page: "/help\u0000", meta: { ref: "x\u0085y" } })
    const calls = `${HEADER},crm_ref\r\nCA5,2024-09-16T09:28:50Z,60,,,,,,fine,R\u00001\r\n`
    const [transcript, call] = await eventsOf(parseChatWebhook(chat, context()), parseCallsWebhook(calls, context()))
    expect(transcript!.extra).toEqual({ page: "/help", meta: { ref: "x\ny" }, control_characters_removed: 2 })
    expect(call!.extra).toEqual({ crm_ref: "R1", control_characters_removed: 1 })
  })

  it("an e-mail address, user id or phone number holding a NUL is refused or cleaned, never kept as another identity", async () => {
    // Segment's edge refuses such an id (identity would never link it); a trait's address is cleaned with the traits.
    expect(validateSegmentMessage({ type: "identify", userId: "u\u00001" })).toMatchObject({ rule: "bad_id", field: "/userId" })
    const identify = { type: "identify", userId: "u1", messageId: "m6", traits: { email: "bob\u0000@example.com" }, context: { traits: { email: "bob\u0000@example.com" } } }
    expect(validateSegmentMessage(identify)).toBeNull()
    const segment = normaliseSegmentMessage(identify as unknown as SegmentMessage, segmentReceiveContext("acme", Date.now(), undefined))
    // A connector's identifiers go to identity as sent: it refuses the address, reads the phone's digits (a visitor id
    // holding one is refused with its message, below).
    const chat = JSON.stringify({ conversation_id: "chat_3", visitor_id: "anon-3", visitor_email: "carol\u0000@example.com", started_at: "2024-10-24T01:31:13.728Z", messages: [] })
    const calls = `${HEADER}\r\nCA6,2024-09-16T09:28:50Z,60,inbound,201-555-01\u000050,,,,x\r\n`
    const ctx = context({ receivedAtMs: Date.now() })
    const events = [segment, ...await eventsOf(parseChatWebhook(chat, ctx), parseCallsWebhook(calls, ctx))]
    await withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit(events, [])
      expect(yield* query("SELECT kind, value FROM identity_nodes ORDER BY kind, value")).toEqual([
        { kind: "anonymous_id", value: "anon-3" }, { kind: "email", value: "bob@example.com" }, { kind: "phone", value: "+2015550150" }, { kind: "user_id", value: "u1" },
      ])
      // The refused address is kept for display without its NUL, saying so; it is not linked as the address without it.
      expect(yield* query("SELECT message_id, r.kind AS kind, r.raw AS raw, r.reason AS reason FROM identity_observations ARRAY JOIN refused AS r ORDER BY message_id, kind"))
        .toEqual([{ message_id: "chat_3", kind: "email", raw: "carol@example.com", reason: expect.stringContaining("control characters") }])
    }))
  }, 60_000)

  it("a chat's visitor id holding a control character is refused with its message, naming the field: it would land tied to no one", async () => {
    const transcript = (id: string, visitor: string) =>
      ({ conversation_id: id, visitor_id: visitor, started_at: "2024-10-24T01:31:13.728Z", messages: [{ from: "visitor", at: "2024-10-24T01:31:13.728Z", text: "hi" }] })
    // A live message's letter is named by its conversation, as any refused live message's is.
    const live = (id: string, visitor: string) => ({ conversation_id: "c", message_id: id, visitor_id: visitor, from: "visitor", at: "2024-10-24T01:31:13.728Z", text: "hi" })
    const body = [transcript("t-nul", "anon\u00003"), transcript("t-c1", "anon\u00853"), live("l-del", "anon\u007f3"), transcript("t-ok", "anon\u00a03"), live("l-ok", " anon-4\t")]
    const { events, deadLetters } = splitItems(parseChatWebhook(JSON.stringify(body), context()))
    expect(events.map((e) => [e.messageId, e.anonymousId])).toEqual([["t-ok", "anon\u00a03"], ["l-ok", " anon-4\t"]])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([
      ["t-nul", "bad_id", "/visitor_id"], ["t-c1", "bad_id", "/visitor_id"], ["c", "bad_id", "/visitor_id"],
    ])
    expect(deadLetters[0]!.rejection.message).toContain("visitor_id holds the control character U+0000 at character 5")
    expect(deadLetters[1]!.rejection.message).toContain("U+0085")
    // Each letter keeps the item whole, so a retry reads what was sent.
    expect(JSON.parse(deadLetters[0]!.payload)).toEqual(body[0])
  })

  it("a Segment id holding a C1 control is refused at the edge, naming it: identity would take it for another person's id", () => {
    expect(validateSegmentMessage({ type: "track", event: "E", userId: "u1\u0085" })).toEqual({
      rule: "bad_id", field: "/userId",
      message: "userId holds the control character U+0085 at character 3: no id holds one (it comes from text decoded with the wrong " +
        "character set, or a terminal's code), and the id with it would be linked as another id than the one without it; remove it",
    })
    expect(validateSegmentMessage({ type: "track", event: "E", anonymousId: "a\u009b1" })).toMatchObject({ rule: "bad_id", field: "/anonymousId" })
    expect(validateSegmentMessage({ type: "group", userId: "u", groupId: "g\u0080" })).toMatchObject({ rule: "bad_id", field: "/groupId" })
    expect(validateSegmentMessage({ type: "track", event: "E", userId: "u1\u00a0\u00e9" })).toBeNull()
  })
})
