// Every connector keeps each item's raw text on its event, and its raw parser reads that text back into the same
// event: what the archive stores is enough to replay an item alone.
import { join } from "node:path"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import type { CanonicalEvent, RawItem } from "../../../ingest/message.ts"
import { processSegmentRequest } from "../../../ingest/segment-api.ts"
import { parseCallsWebhook, readCallsFile } from "../../../ingest/sources/calls.ts"
import { parseChatWebhook, readChatFile } from "../../../ingest/sources/chat.ts"
import { parseEmailWebhook, readEmailPath } from "../../../ingest/sources/email.ts"
import { RAW_PARSERS } from "../../../ingest/sources/index.ts"
import { readSegmentFile } from "../../../ingest/sources/segment-file.ts"
import { readSendgridFile } from "../../../ingest/sources/sendgrid.ts"
import { parseSocialWebhook } from "../../../ingest/sources/social.ts"
import { readTwitterFile, tweetsFromPage } from "../../../ingest/sources/twitter.ts"
import { collect, context, DEV, split, tempFile } from "./helpers.ts"

/** Each event's raw, through JSON as the archive keeps it, parsed again alone, gives the event back. */
const expectRoundTrip = async (events: ReadonlyArray<CanonicalEvent>) => {
  expect(events.length).toBeGreaterThan(0)
  for (const event of events) {
    expect(event.raw, event.messageId).toBeDefined()
    const archived = JSON.parse(JSON.stringify(event.raw)) as RawItem
    const parse = RAW_PARSERS.get(event.source)!
    const again = await parse(archived.body, archived.meta, { tenant: event.tenant, receivedAtMs: Date.parse(event.receivedAt) })
    expect(again, event.messageId).toEqual([{ _tag: "event", event }])
  }
}

describe("raw parsers give back the same event from the raw text alone", () => {
  it("has one for every source", () => {
    expect([...RAW_PARSERS.keys()].sort()).toEqual(["calls", "chat", "email", "segment", "sendgrid", "social", "twitter"])
  })

  it("segment: file lines, including a message without messageId (its content-derived id is the same)", async () => {
    const { events } = await collect(readSegmentFile(join(DEV, "web.ndjson"), context()))
    await expectRoundTrip(events)
    const noId = JSON.stringify({ type: "track", event: "Viewed", anonymousId: "a-1", timestamp: "2024-10-01T11:00:00Z" })
    const derived = await collect(readSegmentFile(tempFile("no-id.ndjson", `${noId}\n`), context()))
    expect(derived.events[0]!.messageId).toMatch(/^cdp-/)
    await expectRoundTrip(derived.events)
  })

  it("segment: HTTP batches keep their clock-skew correction and batch-level sentAt, context and integrations", async () => {
    const receivedAtMs = Date.parse("2024-10-01T12:00:10.000Z")
    const body = JSON.stringify({
      batch: [
        { type: "track", event: "Clicked", anonymousId: "a-1", messageId: "m-1", timestamp: "2024-10-01T11:00:00Z" },
        { type: "identify", userId: "u-1", traits: { plan: "pro" }, timestamp: "2024-10-01T11:00:02Z", context: { ip: "192.0.2.1" } },
      ],
      sentAt: "2024-10-01T11:00:05Z",
      context: { library: { name: "analytics-node" } },
      integrations: { All: true },
    })
    const batch = processSegmentRequest({ route: "batch", body, tenant: "acme", receivedAtMs })
    expect(batch.events.map((e) => e.timestamp)).toEqual(["2024-10-01T12:00:05.000Z", "2024-10-01T12:00:07.000Z"])
    expect(batch.events[0]!.raw!.meta).toEqual({
      correctClockSkew: true, batchSentAt: "2024-10-01T11:00:05Z", batchContext: { library: { name: "analytics-node" } }, batchIntegrations: { All: true },
    })
    await expectRoundTrip(batch.events)
    const single = processSegmentRequest({ route: "page", body: JSON.stringify({ anonymousId: "a-2", name: "Home", sentAt: "2024-10-01T12:00:09Z", timestamp: "2024-10-01T12:00:00Z" }), tenant: "acme", receivedAtMs })
    await expectRoundTrip(single.events)
    const imported = processSegmentRequest({ route: "import", body, tenant: "acme", receivedAtMs })
    expect(imported.events[0]!.timestamp).toBe("2024-10-01T11:00:00.000Z")
    await expectRoundTrip(imported.events)
  })

  it("segment: a whole request body (a batch refused as a whole) parses as the request", async () => {
    const body = JSON.stringify({ batch: [{ type: "track", event: "E", anonymousId: "a", messageId: "b-1" }, { type: "track", anonymousId: "a" }] })
    const items = await RAW_PARSERS.get("segment")!(body, undefined, context())
    expect(split(items).events.map((e) => e.messageId)).toEqual(["b-1"])
    expect(split(items).deadLetters.map((d) => d.rejection.rule)).toEqual(["missing_event"])
  })

  it("sendgrid: each event of a posted array", async () => {
    const { events } = await collect(readSendgridFile(join(DEV, "email-events.json"), context()))
    await expectRoundTrip(events)
  })

  it("email: .eml files and mbox messages, and bytes that are not UTF-8 (kept as base64, so the derived id holds)", async () => {
    const { events } = await collect(readEmailPath(join(DEV, "email-inbound"), context()))
    await expectRoundTrip(events)
    const latin1 = Buffer.from(
      "From: Zoe <zoe@example.com>\r\nSubject: Caf\xe9\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nLe caf\xe9 \xe9tait froid.\r\n", "latin1")
    const mail = split(await parseEmailWebhook(latin1, context())).events
    expect(mail[0]!.messageId).toMatch(/^cdp-mail-/)
    expect(mail[0]!.raw!.meta).toEqual({ encoding: "base64" })
    expect(mail[0]!.text).toContain("café")
    await expectRoundTrip(mail)
  })

  it("chat: transcript lines, and live messages posted to the webhook", async () => {
    const { events } = await collect(readChatFile(join(DEV, "chat.ndjson"), context()))
    await expectRoundTrip(events)
    const live = [
      { message_id: "m-9", conversation_id: "c-1", visitor_id: "anon-1", from: "visitor", at: "2024-10-24T01:31:13.728Z", text: "Is my order late?" },
      { conversation_id: "c-1", visitor_id: "anon-1", from: "agent", at: "2024-10-24T01:32:00Z", text: "Checking", agent_name: "Riley" },
    ]
    await expectRoundTrip(split(parseChatWebhook(JSON.stringify(live), context())).events)
  })

  it("calls: each row with the header, and the column mapping it was read with", async () => {
    const { events } = await collect(readCallsFile(join(DEV, "calls.csv"), context()))
    await expectRoundTrip(events)
    const mapped = "Call SID,Start,Caller,Notes,Region\r\nCA9,2024-09-16T09:28:50Z,020 7946 0991,\"Late parcel, \"\"again\"\"\r\nsecond line\",EU\r\n"
    const options = { columns: { call_id: "Call SID", started_at: "Start", phone: "Caller", notes: "Notes", duration_s: null, direction: null, agent: null, queue: null, outcome: null }, defaultCountry: "GB" }
    const rows = split(parseCallsWebhook(mapped, context({ options }))).events
    expect(rows.map((e) => [e.messageId, e.text, e.properties["phone_e164"]])).toEqual([["CA9", "Late parcel, \"again\"\r\nsecond line", "+442079460991"]])
    expect(rows[0]!.raw).toEqual({ body: "Call SID,Start,Caller,Notes,Region\nCA9,2024-09-16T09:28:50Z,020 7946 0991,\"Late parcel, \"\"again\"\"\r\nsecond line\",EU", meta: { options } })
    await expectRoundTrip(rows)
  })

  it("social: each posted line", async () => {
    const lines = [
      { id: 17, network: "trustpilot", author_handle: "hiker", text: "Great boots", created_at: "2024-10-01T10:00:00Z", rating: 5, author_name: "Hiker", shop: "eu" },
      { id: "p-2", network: "reddit", author_handle: "r_user", text: "Seams tore", created_at: "2024-10-02T10:00:00Z", lang: "en" },
    ].map((p) => JSON.stringify(p)).join("\n")
    await expectRoundTrip(split(parseSocialWebhook(lines, context())).events)
  })

  it("twitter: each tweet of the recent-search pages, and a stream event with its matching rules", async () => {
    const { events } = await collect(readTwitterFile(join(DEV, "tweets.json"), context()))
    await expectRoundTrip(events)
    const pages = JSON.parse(readFileSync(join(DEV, "tweets.json"), "utf8")) as Array<{ data: Array<unknown>; includes?: unknown }>
    const streamEvent = { data: pages[0]!.data[0], includes: pages[0]!.includes, matching_rules: [{ id: "1", tag: "brand" }] }
    const streamed = split(tweetsFromPage(streamEvent, context())).events
    expect(streamed[0]!.properties["matching_rules"]).toEqual(["brand"])
    await expectRoundTrip(streamed)
  })
})
