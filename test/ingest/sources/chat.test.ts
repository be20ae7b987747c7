import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { parseChatWebhook, readChatFile } from "../../../ingest/sources/chat.ts"
import { FILE_SOURCES, WEBHOOK_SOURCES } from "../../../ingest/sources/index.ts"
import { BINARY_JUNK, collect, context, DEV, sorted, split, tempFile, truthChannels, truthIds } from "./helpers.ts"

const DEV_FILE = join(DEV, "chat.ndjson")
const isDevFile = (source: string) => source === "chat.ndjson"

interface RawTranscript {
  conversation_id: string
  visitor_id: string
  started_at: string
  ended_at: string
  visitor_email?: string
  visitor_name?: string
  csat?: number
  messages: Array<{ from: string; at: string; text: string }>
}

const raws = (): Array<RawTranscript> =>
  readFileSync(DEV_FILE, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as RawTranscript)

const transcript = (overrides: Record<string, unknown> = {}) => ({
  conversation_id: "chat_1",
  visitor_id: "anon-1",
  started_at: "2024-10-24T01:31:13.728Z",
  ended_at: "2024-10-24T01:35:45.524Z",
  channel: "web_chat",
  messages: [
    { from: "visitor", at: "2024-10-24T01:31:13.728Z", text: "Hi there" },
    { from: "agent", at: "2024-10-24T01:32:04.862Z", text: "Hi! This is Riley.", agent_name: "Riley" },
    { from: "visitor", at: "2024-10-24T01:32:21.127Z", text: "My zip broke." },
  ],
  ...overrides,
})

describe("chat connector on the dev set", () => {
  it("lands every chat item id of the truth once, nothing extra, no dead letters", async () => {
    const { events, deadLetters } = await collect(readChatFile(DEV_FILE, context()))
    expect(deadLetters).toEqual([])
    expect(sorted(events.map((e) => e.messageId))).toEqual(sorted(truthIds(isDevFile)))
    expect(truthChannels(isDevFile)).toEqual(new Set(["chat"]))
    expect(new Set(events.map((e) => `${e.channel}/${e.source}/${e.type}/${e.event}`))).toEqual(new Set(["chat/chat/track/Chat Conversation"]))
  })

  it("text is the visitor's lines only, the cookie is the anonymousId, the typed e-mail and name are kept as typed", async () => {
    const { events } = await collect(readChatFile(DEV_FILE, context()))
    const byId = new Map(events.map((e) => [e.messageId, e]))
    for (const r of raws()) {
      const e = byId.get(r.conversation_id)!
      expect(e.text).toBe(r.messages.filter((m) => m.from === "visitor").map((m) => m.text).join("\n"))
      expect(e.text).not.toContain("Thanks for contacting Lumen Outfitters")
      expect(e.anonymousId).toBe(r.visitor_id)
      expect(e.identifiers).toEqual(r.visitor_email === undefined ? [] : [{ kind: "email", value: r.visitor_email }])
      expect(e.traits).toEqual(r.visitor_name === undefined ? {} : { name: r.visitor_name })
      expect(e.timestamp).toBe(r.started_at)
      expect(e.properties).toMatchObject({ started_at: r.started_at, ended_at: r.ended_at, message_count: r.messages.length })
      expect(e.properties["csat"]).toBe(r.csat)
      expect([e.userId, e.profileId, e.sentAt]).toEqual(["", "", null])
    }
    expect(events.some((e) => e.identifiers[0]?.value === "test@test.com")).toBe(true)
  })

  it("reports progress up to the file's size", async () => {
    const seen: Array<number> = []
    await collect(readChatFile(DEV_FILE, context({ onProgress: (n) => seen.push(n) })))
    expect(seen.at(-1)).toBe(readFileSync(DEV_FILE).length)
  })

  it("is registered as a file source and a webhook source", () => {
    expect(FILE_SOURCES.get("chat")?.read).toBe(readChatFile)
    expect(WEBHOOK_SOURCES.get("chat")?.parse).toBe(parseChatWebhook)
  })
})

describe("chat transcripts that must be refused", () => {
  it("each bad line is a dead letter naming its line, field and rule; good lines still land; blank lines are skipped", async () => {
    const lines = [
      JSON.stringify(transcript({ conversation_id: "good-1" })),
      "{not json",
      "",
      JSON.stringify(transcript({ conversation_id: "bad-from", messages: [{ from: "bot", at: "2024-10-24T01:31:13Z", text: "x" }] })),
      JSON.stringify(transcript({ conversation_id: "bad-at", messages: [{ from: "visitor", at: "tuesday", text: "x" }] })),
      JSON.stringify(transcript({ conversation_id: "no-messages", messages: "hello" })),
      JSON.stringify(transcript({ conversation_id: "" })),
      JSON.stringify(transcript({ conversation_id: "bad-csat", csat: 9 })),
      JSON.stringify(transcript({ conversation_id: "bad-start", started_at: "2024-13-01T00:00:00Z" })),
      JSON.stringify({ ...transcript({ conversation_id: "no-visitor" }), visitor_id: undefined }),
      "[1,2]",
      JSON.stringify(transcript({ conversation_id: "good-2" })),
    ]
    const { events, deadLetters } = await collect(readChatFile(tempFile("chat.ndjson", lines.join("\n")), context()))
    expect(events.map((e) => e.messageId)).toEqual(["good-1", "good-2"])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([
      ["", "not_json", ""],
      ["bad-from", "not_allowed", "/messages/0/from"],
      ["bad-at", "bad_timestamp", "/messages/0/at"],
      ["no-messages", "wrong_type", "/messages"],
      ["", "missing_conversation_id", "/conversation_id"],
      ["bad-csat", "out_of_range", "/csat"],
      ["bad-start", "bad_timestamp", "/started_at"],
      ["no-visitor", "missing_field", "/visitor_id"],
      ["", "not_object", ""],
    ])
    expect(deadLetters[0]!.rejection.message).toMatch(/^line 2: not valid JSON/)
    expect(deadLetters[1]!.rejection.message).toBe('line 4: messages/0/from must be one of visitor, agent (got "bot")')
    expect(deadLetters[5]!.rejection.message).toBe("line 8: csat must be <= 5 (got 9)")
    expect(deadLetters[7]!.rejection.message).toBe("line 10: visitor_id is required")
    expect(deadLetters[1]!.payload).toBe(lines[3])
  })

  it("an empty file is nothing; binary junk is dead letters, not a crash", async () => {
    expect(await collect(readChatFile(tempFile("empty.ndjson", ""), context()))).toEqual({ events: [], deadLetters: [] })
    const junk = await collect(readChatFile(tempFile("junk.ndjson", BINARY_JUNK), context()))
    expect(junk.events).toEqual([])
    expect(junk.deadLetters.length).toBeGreaterThan(0)
    // Every junk line holds bytes that are not UTF-8: refused as such, never replaced and read.
    expect(junk.deadLetters.every((d) => d.rejection.rule === "invalid_utf8")).toBe(true)
  })

  it("agent names given per message are listed; unknown fields are kept in extra", async () => {
    const line = JSON.stringify({ ...transcript(), shop: "eu" })
    const { events } = await collect(readChatFile(tempFile("c.ndjson", line), context()))
    expect(events[0]!.properties["agents"]).toEqual(["Riley"])
    expect(events[0]!.extra).toEqual({ shop: "eu" })
    expect(events[0]!.text).toBe("Hi there\nMy zip broke.")
  })

  it("an unknown field named __proto__ is kept in extra as the sender's field, not as extra's prototype", () => {
    const line = JSON.stringify(transcript()).replace(/^\{/, '{"__proto__": {"shop": "eu"}, ')
    const { events } = split(parseChatWebhook(line, context()))
    expect(JSON.stringify(events[0]!.extra)).toBe('{"__proto__":{"shop":"eu"}}')
    expect((events[0]!.extra as Record<string, unknown>)["shop"]).toBeUndefined()
  })
})

describe("chat webhook bodies", () => {
  const live = { conversation_id: "chat_1", visitor_id: "anon-1", from: "visitor", at: "2024-10-24T01:31:13.728Z", text: "Is my order late?" }

  it("a live visitor message is one Chat Message keyed by message_id, else by conversation and time", () => {
    const withId = split(parseChatWebhook(JSON.stringify({ ...live, message_id: "m-9" }), context())).events
    expect(withId.map((e) => [e.messageId, e.event, e.text, e.anonymousId, e.timestamp, e.channel]))
      .toEqual([["m-9", "Chat Message", "Is my order late?", "anon-1", "2024-10-24T01:31:13.728Z", "chat"]])
    const withoutId = split(parseChatWebhook(JSON.stringify(live), context())).events
    expect(withoutId[0]!.messageId).toMatch(/^chat_1:2024-10-24T01:31:13\.728Z:[0-9a-f]{16}$/)
    expect(withoutId[0]!.properties).toEqual({ conversation_id: "chat_1", from: "visitor" })
  })

  it("two live messages without ids in the same conversation and second both keep their ids apart; the same one sent again keeps its id", () => {
    // Found probing cdp serve: keyed by conversation and time alone, the second was a duplicate of the first and dropped.
    const at = "2024-10-24T01:31:13Z"
    const idOf = (m: Record<string, unknown>) => split(parseChatWebhook(JSON.stringify(m), context())).events[0]!.messageId
    const first = idOf({ ...live, at, text: "My parcel is late." })
    const second = idOf({ ...live, at, text: "And I was charged twice!" })
    expect(second).not.toBe(first)
    expect(idOf({ ...live, at, text: "My parcel is late." })).toBe(first)
    expect(idOf({ ...live, at, text: "My parcel is late.", from: "agent", agent_name: "Riley" })).not.toBe(first)
  })

  it("an agent's live message lands with no text, since the words are not the customer's", () => {
    const { events } = split(parseChatWebhook(JSON.stringify({ ...live, from: "agent", text: "We are on it" }), context()))
    expect(events[0]!.text).toBe("")
    expect(events[0]!.properties["from"]).toBe("agent")
  })

  it("a whole transcript, an array or NDJSON of them are accepted", () => {
    expect(split(parseChatWebhook(JSON.stringify(transcript()), context())).events.map((e) => e.event)).toEqual(["Chat Conversation"])
    const array = split(parseChatWebhook(JSON.stringify([transcript(), live]), context())).events
    expect(array.map((e) => e.event)).toEqual(["Chat Conversation", "Chat Message"])
    const ndjson = split(parseChatWebhook(`${JSON.stringify(live)}\n${JSON.stringify({ ...live, at: "2024-10-24T01:31:14Z" })}\n`, context()))
    expect(ndjson.events).toHaveLength(2)
  })

  it("a bad live message or garbage is a dead letter naming the field, never a throw", () => {
    const bad = split(parseChatWebhook(JSON.stringify({ ...live, from: "robot" }), context()))
    expect(bad.deadLetters.map((d) => [d.rejection.rule, d.rejection.field, d.messageId])).toEqual([["not_allowed", "/from", "chat_1"]])
    const missing = split(parseChatWebhook(JSON.stringify({ ...live, text: undefined }), context()))
    expect(missing.deadLetters.map((d) => [d.rejection.rule, d.rejection.field])).toEqual([["missing_field", "/text"]])
    for (const body of ["", "not json at all", "42", "null", BINARY_JUNK.toString("latin1")]) {
      const { events } = split(parseChatWebhook(body, context()))
      expect(events).toEqual([])
    }
    expect(split(parseChatWebhook("null", context())).deadLetters[0]!.rejection.rule).toBe("not_object")
  })
})

describe("a chat message's text is bounded", () => {
  const live = { conversation_id: "chat_1", visitor_id: "anon-1", from: "visitor", at: "2024-10-24T01:31:13.728Z" }
  const huge = "y".repeat(2e7)

  it("a transcript with a 20 MB message is a dead letter naming the message's text and the bound; other lines land", async () => {
    const lines = [
      JSON.stringify(transcript({ conversation_id: "ok" })),
      JSON.stringify(transcript({ conversation_id: "huge", messages: [{ from: "visitor", at: "2024-10-24T01:31:13Z", text: huge }] })),
    ]
    const { events, deadLetters } = await collect(readChatFile(tempFile("chat.ndjson", lines.join("\n")), context()))
    expect(events.map((e) => e.messageId)).toEqual(["ok"])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["huge", "too_long", "/messages/0/text", "line 2: messages/0/text is longer than 100000 characters"],
    ])
    // Nothing accepted is lost: the dead letter keeps the whole transcript.
    expect(deadLetters[0]!.payload).toBe(lines[1])
  })

  it("a live message of 20 MB is a dead letter naming text; one of 100,000 characters lands", () => {
    const refused = split(parseChatWebhook(JSON.stringify({ ...live, text: huge }), context()))
    expect(refused.events).toEqual([])
    expect(refused.deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["chat_1", "too_long", "/text", "body: text is longer than 100000 characters"],
    ])
    const long = split(parseChatWebhook(JSON.stringify({ ...live, text: "é".repeat(100_000) }), context()))
    expect(long.events.map((e) => e.text.length)).toEqual([100_000])
    const transcriptLong = split(parseChatWebhook(JSON.stringify(transcript({ messages: [{ from: "visitor", at: live.at, text: "y".repeat(100_000) }] })), context()))
    expect(transcriptLong.events.map((e) => e.text.length)).toEqual([100_000])
  })
})

describe("a transcript's messages and an agent's name are bounded", () => {
  const live = { conversation_id: "chat_1", visitor_id: "anon-1", from: "agent", at: "2024-10-24T01:31:13.728Z", text: "Hi" }
  const line = { from: "visitor", at: "2024-10-24T01:31:13Z", text: "y" }

  it("a transcript of more than 10,000 messages is a dead letter naming messages and the bound; other lines land", async () => {
    const lines = [
      JSON.stringify(transcript({ conversation_id: "ok" })),
      JSON.stringify(transcript({ conversation_id: "many", messages: Array.from({ length: 100_000 }, () => line) })),
    ]
    const { events, deadLetters } = await collect(readChatFile(tempFile("chat.ndjson", lines.join("\n")), context()))
    expect(events.map((e) => e.messageId)).toEqual(["ok"])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["many", "too_many_items", "/messages", "line 2: messages has more than 10000 items"],
    ])
    expect(deadLetters[0]!.payload).toBe(lines[1])
    const most = split(parseChatWebhook(JSON.stringify(transcript({ messages: Array.from({ length: 10_000 }, () => line) })), context()))
    expect(most.events.map((e) => e.properties["message_count"])).toEqual([10_000])
  })

  it("an agent_name past 1,024 characters is a dead letter naming it, in a transcript and a live message; 1,024 lands", () => {
    const name = "R".repeat(1_000_000)
    const inTranscript = split(parseChatWebhook(JSON.stringify(transcript({ messages: [{ ...line, from: "agent", agent_name: name }] })), context()))
    expect(inTranscript.deadLetters.map((d) => [d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["too_long", "/messages/0/agent_name", "body: messages/0/agent_name is longer than 1024 characters"],
    ])
    const liveRefused = split(parseChatWebhook(JSON.stringify({ ...live, agent_name: name }), context()))
    expect(liveRefused.events.map((e) => e.messageId)).toEqual([])
    expect(liveRefused.deadLetters.map((d) => [d.rejection.rule, d.rejection.field])).toEqual([["too_long", "/agent_name"]])
    const landed = split(parseChatWebhook(JSON.stringify({ ...live, agent_name: "R".repeat(1_024) }), context()))
    expect(landed.deadLetters).toEqual([])
    expect(landed.events).toHaveLength(1)
  })
})

describe("a transcript's channel is bounded", () => {
  it("a channel past 256 characters is a dead letter naming it; 256 lands", () => {
    const refused = split(parseChatWebhook(JSON.stringify(transcript({ channel: "w".repeat(1_000_000) })), context()))
    expect(refused.events.map((e) => e.messageId)).toEqual([])
    expect(refused.deadLetters.map((d) => [d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["too_long", "/channel", "body: channel is longer than 256 characters"],
    ])
    const landed = split(parseChatWebhook(JSON.stringify(transcript({ channel: "w".repeat(256) })), context()))
    expect(landed.events.map((e) => (e.properties["chat_channel"] as string).length)).toEqual([256])
  })
})
