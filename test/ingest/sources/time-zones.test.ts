// A time written without a zone ("2024-01-01T09:30:00", "2024-01-01 09:30:00") is read in its source's time zone
// ("timeZone" in the source's options, an IANA name), DST included, and every event whose time had no zone says in
// which zone it was read (extra.zoneless_time_read_in, "UTC" when none is configured), so nothing shifts silently.
// Found probing: a contact centre's export in local time landed hours off, read as UTC without a word.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { parseIsoDateTime, timeZoneRefusal } from "../../../ingest/schemas.ts"
import { parseCallsWebhook } from "../../../ingest/sources/calls.ts"
import { parseChatWebhook } from "../../../ingest/sources/chat.ts"
import { parseEmailWebhook } from "../../../ingest/sources/email.ts"
import { RAW_PARSERS, type ImportedItem } from "../../../ingest/sources/index.ts"
import { readSegmentFile } from "../../../ingest/sources/segment-file.ts"
import { parseSocialWebhook } from "../../../ingest/sources/social.ts"
import { readTwitterFile } from "../../../ingest/sources/twitter.ts"
import { collect, context, split, tempFile } from "./helpers.ts"

const iso = (ms: number) => new Date(ms).toISOString()

describe("reading a date-time without a zone in a time zone", () => {
  it("reads wall-clock times in the zone, DST included; a time with a zone or Z is unchanged", () => {
    expect(iso(parseIsoDateTime("2024-01-15T09:30:00", "Europe/London"))).toBe("2024-01-15T09:30:00.000Z")
    expect(iso(parseIsoDateTime("2024-07-15 09:30:00", "Europe/London"))).toBe("2024-07-15T08:30:00.000Z")
    expect(iso(parseIsoDateTime("2024-01-01T00:00:00", "America/New_York"))).toBe("2024-01-01T05:00:00.000Z")
    expect(iso(parseIsoDateTime("2024-07-04T12:00:00.250", "America/New_York"))).toBe("2024-07-04T16:00:00.250Z")
    expect(iso(parseIsoDateTime("2024-03-01T08:00", "Asia/Kolkata"))).toBe("2024-03-01T02:30:00.000Z")
    expect(iso(parseIsoDateTime("2024-07-15T09:30:00Z", "Europe/London"))).toBe("2024-07-15T09:30:00.000Z")
    expect(iso(parseIsoDateTime("2024-07-15T09:30:00+02:00", "America/New_York"))).toBe("2024-07-15T07:30:00.000Z")
    expect(iso(parseIsoDateTime("2024-07-15T09:30:00"))).toBe("2024-07-15T09:30:00.000Z")
  })

  it("a wall time a DST change skips is moved forward by the gap; one it repeats is the first of the two", () => {
    // London, 31 March 2024: 01:00 GMT became 02:00 BST; 27 October 2024: 02:00 BST became 01:00 GMT.
    expect(iso(parseIsoDateTime("2024-03-31T01:30:00", "Europe/London"))).toBe("2024-03-31T01:30:00.000Z")
    expect(iso(parseIsoDateTime("2024-03-31T02:00:00", "Europe/London"))).toBe("2024-03-31T01:00:00.000Z")
    expect(iso(parseIsoDateTime("2024-10-27T01:30:00", "Europe/London"))).toBe("2024-10-27T00:30:00.000Z")
    expect(iso(parseIsoDateTime("2024-10-27T02:30:00", "Europe/London"))).toBe("2024-10-27T02:30:00.000Z")
    // New York, 10 March 2024 02:30 does not exist (02:00 EST became 03:00 EDT): 03:30 EDT.
    expect(iso(parseIsoDateTime("2024-03-10T02:30:00", "America/New_York"))).toBe("2024-03-10T07:30:00.000Z")
  })

  it("any instant written as a zone's wall clock reads back as that instant, or the earlier of two the wall time names (property)", () => {
    const zones = ["Europe/London", "America/New_York", "Europe/Amsterdam", "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns", "Pacific/Apia"]
    const wallOf = (zone: string, ms: number) => new Intl.DateTimeFormat("sv-SE", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    }).format(ms).replace(" ", "T")
    fc.assert(fc.property(fc.constantFrom(...zones), fc.integer({ min: Date.UTC(1901, 0, 1) / 1000, max: Date.UTC(2298, 0, 1) / 1000 }), (zone, seconds) => {
      const ms = seconds * 1000
      const back = parseIsoDateTime(wallOf(zone, ms), zone)
      return back <= ms && wallOf(zone, back) === wallOf(zone, ms)
    }), { numRuns: 3000 })
  })

  it("names what is wrong with a zone that is not an IANA name", () => {
    expect(timeZoneRefusal("Europe/London")).toBeUndefined()
    expect(timeZoneRefusal("UTC")).toBeUndefined()
    expect(timeZoneRefusal("Europe/Londn")).toBe('"Europe/Londn" is not an IANA time zone name such as Europe/London or America/New_York')
    expect(timeZoneRefusal(5)).toBe("5 is not an IANA time zone name such as Europe/London or America/New_York")
    expect(timeZoneRefusal("")).toBe('"" is not an IANA time zone name such as Europe/London or America/New_York')
    expect(timeZoneRefusal("Europe/".repeat(100_000))!.length).toBeLessThan(200)
    expect(timeZoneRefusal({ zone: "x".repeat(100_000) })!.length).toBeLessThan(200)
  })
})

const CALLS = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes\n" +
  "c1,2024-07-15 09:30:00,60,inbound,,P,q,resolved,ok\nc2,2024-07-15T09:30:00Z,60,inbound,,P,q,resolved,ok\n"

const times = (items: ReadonlyArray<ImportedItem>) =>
  split(items).events.map((e) => [e.messageId, e.timestamp, e.extra["zoneless_time_read_in"]])

/** Each event read again from its raw item, as replay does (no source options then). */
const replayed = async (source: string, items: ReadonlyArray<ImportedItem>) => {
  const again: Array<ImportedItem> = []
  for (const { event } of split(items).events.map((event) => ({ event }))) {
    again.push(...await RAW_PARSERS.get(source)!(event.raw!.body, event.raw!.meta, context()))
  }
  return again
}

describe("sources read times without a zone in their time zone and say so", () => {
  it("calls: a zone-less start time is read in the configured zone and marked; one with Z is unchanged; replay agrees", async () => {
    const items = parseCallsWebhook(CALLS, context({ options: { timeZone: "Europe/Berlin" } }))
    expect(times(items)).toEqual([["c1", "2024-07-15T07:30:00.000Z", "Europe/Berlin"], ["c2", "2024-07-15T09:30:00.000Z", undefined]])
    expect(times(await replayed("calls", items))).toEqual(times(items))
  })

  it("a zone given in other letters (\"europe/berlin\", \"utc\") is read, marked and counted as the tz database names it", () => {
    const items = parseCallsWebhook(CALLS, context({ options: { timeZone: "europe/berlin" } }))
    expect(times(items)).toEqual([["c1", "2024-07-15T07:30:00.000Z", "Europe/Berlin"], ["c2", "2024-07-15T09:30:00.000Z", undefined]])
    expect(times(parseCallsWebhook(CALLS, context({ options: { timeZone: "utc" } })))[0]).toEqual(["c1", "2024-07-15T09:30:00.000Z", "UTC"])
  })

  it("calls without a zone configured: read as UTC, as before, and marked so", () => {
    expect(times(parseCallsWebhook(CALLS, context()))).toEqual([["c1", "2024-07-15T09:30:00.000Z", "UTC"], ["c2", "2024-07-15T09:30:00.000Z", undefined]])
  })

  it("a zone no setting checked (an archived item's meta) never makes a parser throw: its times are read and marked as UTC", async () => {
    const line = JSON.stringify({ type: "track", event: "A", userId: "u1", messageId: "s1", timestamp: "2024-01-01T00:00:00" })
    const items = await RAW_PARSERS.get("segment")!(line, { timeZone: "Mars/Olympus" }, context())
    expect(times(items)).toEqual([["s1", "2024-01-01T00:00:00.000Z", "UTC"]])
    const chat = JSON.stringify({ conversation_id: "t2", message_id: "m2", visitor_id: "v2", from: "visitor", text: "hello", at: "2024-01-15T10:00:00" })
    expect(times(await RAW_PARSERS.get("chat")!(chat, { timeZone: "Mars/Olympus" }, context()))).toEqual([["m2", "2024-01-15T10:00:00.000Z", "UTC"]])
  })

  it("chat: a transcript's started_at and a live message's at", async () => {
    const transcript = { conversation_id: "t1", visitor_id: "v1", started_at: "2024-01-15T10:00:00", messages: [{ from: "visitor", text: "hi", at: "2024-01-15T10:00:00" }] }
    const live = { conversation_id: "t2", message_id: "m2", visitor_id: "v2", from: "visitor", text: "hello", at: "2024-01-15T10:00:00-05:00" }
    const body = `${JSON.stringify(transcript)}\n${JSON.stringify(live)}\n`
    const items = parseChatWebhook(body, context({ options: { timeZone: "America/Chicago" } }))
    expect(times(items)).toEqual([["t1", "2024-01-15T16:00:00.000Z", "America/Chicago"], ["m2", "2024-01-15T15:00:00.000Z", undefined]])
    expect(times(await replayed("chat", items))).toEqual(times(items))
  })

  it("social: a post's created_at", async () => {
    const post = { network: "reviews", id: "r1", author_handle: "ann", text: "fine", created_at: "2024-07-01T12:00:00" }
    const items = parseSocialWebhook(`${JSON.stringify(post)}\n`, context({ options: { timeZone: "Australia/Sydney" } }))
    expect(times(items)).toEqual([["reviews:r1", "2024-07-01T02:00:00.000Z", "Australia/Sydney"]])
    expect(times(await replayed("social", items))).toEqual(times(items))
  })

  it("segment files: a message's timestamp", async () => {
    const lines = [
      { type: "track", event: "A", userId: "u1", messageId: "s1", timestamp: "2024-01-01T00:00:00" },
      { type: "track", event: "B", userId: "u1", messageId: "s2", timestamp: "2024-01-01T00:00:00Z" },
    ].map((m) => JSON.stringify(m)).join("\n")
    const { events } = await collect(readSegmentFile(tempFile("tz.ndjson", lines), context({ options: { timeZone: "America/New_York" } })))
    const read = events.map((e) => [e.messageId, e.timestamp, e.extra["zoneless_time_read_in"]])
    expect(read).toEqual([["s1", "2024-01-01T05:00:00.000Z", "America/New_York"], ["s2", "2024-01-01T00:00:00.000Z", undefined]])
    const again = await replayed("segment", events.map((event) => ({ _tag: "event" as const, event })))
    expect(times(again)).toEqual(read)
  })

  it("mail: a Date header written as ISO 8601 without a zone; an RFC 5322 date has one and is unchanged", async () => {
    const mail = (id: string, date: string) => `From: Ann <ann@example.com>\r\nTo: help@example.com\r\nMessage-ID: <${id}@example.com>\r\nDate: ${date}\r\nSubject: hi\r\n\r\nHello\r\n`
    const zoned = context({ options: { timeZone: "Europe/London" } })
    const items = [
      ...await parseEmailWebhook(Buffer.from(mail("e1", "2024-07-15T09:30:00")), zoned),
      ...await parseEmailWebhook(Buffer.from(mail("e2", "Mon, 15 Jul 2024 09:30:00 +0000")), zoned),
    ]
    expect(times(items)).toEqual([["e1@example.com", "2024-07-15T08:30:00.000Z", "Europe/London"], ["e2@example.com", "2024-07-15T09:30:00.000Z", undefined]])
    expect(times(await replayed("email", items))).toEqual(times(items))
  })

  it("twitter: a tweet's created_at (the X API writes Z; a file written by hand may not)", async () => {
    const page = JSON.stringify({ data: [{ id: "1", text: "late again", author_id: "9", created_at: "2024-07-01T12:00:00" }, { id: "2", text: "ok", author_id: "9", created_at: "2024-07-01T12:00:00.000Z" }] })
    const items = (await collect(readTwitterFile(tempFile("tweets.json", `[${page}]`), context({ options: { timeZone: "Europe/Paris" } })))).events
      .map((event) => ({ _tag: "event" as const, event }))
    expect(times(items)).toEqual([["1", "2024-07-01T10:00:00.000Z", "Europe/Paris"], ["2", "2024-07-01T12:00:00.000Z", undefined]])
    expect(times(await replayed("twitter", items))).toEqual(times(items))
  })
})
