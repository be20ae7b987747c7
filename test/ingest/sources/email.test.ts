import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { parseEmailWebhook, readEmailPath } from "../../../ingest/sources/email.ts"
import { FILE_SOURCES, WEBHOOK_SOURCES } from "../../../ingest/sources/index.ts"
import { BINARY_JUNK, collect, context, DEV, sorted, split, tempDir, tempFile, truthChannels, truthIds } from "./helpers.ts"

const INBOUND = join(DEV, "email-inbound")
const MBOX = join(INBOUND, "support-archive.mbox")
const isInbound = (source: string) => source.startsWith("email-inbound/")

const one = async (file: string) => {
  const { events, deadLetters } = await collect(readEmailPath(join(INBOUND, file), context()))
  expect(deadLetters).toEqual([])
  expect(events).toHaveLength(1)
  return events[0]!
}

const crlf = (lines: ReadonlyArray<string>): string => lines.join("\r\n")

const SIMPLE = crlf([
  "From: Ann Example <ann@example.com>",
  "To: support@lumenoutfitters.example",
  "Subject: Hello",
  "Date: Tue, 17 Sep 2024 11:58:24 -0500",
  "Message-ID: <abc-123@example.com>",
  "",
  "My order is late.",
  "",
])

describe("email connector on the dev set", () => {
  it("a folder of .eml files and the mbox lands every inbound item id of the truth once, nothing extra, no dead letters", async () => {
    const { events, deadLetters } = await collect(readEmailPath(INBOUND, context()))
    expect(deadLetters).toEqual([])
    expect(sorted(events.map((e) => e.messageId))).toEqual(sorted(truthIds(isInbound)))
    expect(truthChannels(isInbound)).toEqual(new Set(["email"]))
    expect(new Set(events.map((e) => `${e.channel}/${e.source}/${e.type}/${e.event}`))).toEqual(new Set(["email/email/track/Email Received"]))
  })

  it("each message is keyed by its sender, dated by its Date header and has a body", async () => {
    const { events } = await collect(readEmailPath(INBOUND, context()))
    for (const e of events) {
      // The sender first; then what a signature states, marked unverified.
      expect(e.identifiers[0]!.kind).toBe("email")
      expect(e.identifiers.slice(1).every((id) => id.trust === "unverified" && (id.kind === "phone" || id.kind === "twitter_handle"))).toBe(true)
      expect(e.identifiers[0]!.value).toContain("@")
      expect(e.timestamp >= "2024-09-02" && e.timestamp < "2024-12-02").toBe(true)
      expect(e.originalTimestamp).toBe(e.timestamp)
      expect(e.text.trim()).not.toBe("")
      expect(e.text).not.toContain("\uFFFD")
      expect(e.properties["to"]).toEqual(["support@lumenoutfitters.example"])
      expect(e.properties["message_id_derived"]).toBeUndefined()
    }
  })

  it("an mbox splits into its 8 messages with the truth's ids, and >From lines lose one >", async () => {
    const { events, deadLetters } = await collect(readEmailPath(MBOX, context()))
    expect(deadLetters).toEqual([])
    expect(events.map((e) => e.messageId)).toEqual(truthIds((s) => s === "email-inbound/support-archive.mbox"))
    const texts = events.map((e) => e.text).join("\n")
    expect(texts).toContain("\n>From the depot: parcel held, address query.")
    expect(texts).toContain("\nFrom what I can see on the tracking page it has not moved since 5 Nov.")
    expect(texts).not.toContain(">>From")
    expect(texts).not.toMatch(/^>From what/m)
  })

  it("a quoted-printable windows-1252 body is decoded, quotes and signature kept as sent", async () => {
    const e = await one("20240925-001.eml")
    expect(e.text).toContain("The order total was £59.")
    expect(e.text).toContain("\n-- \nFreya Jones")
    expect(e.text).toContain("________________________________\nFrom: Lumen Outfitters Support")
  })

  it("an 8bit iso-8859-1 body is decoded", async () => {
    expect((await one("20241129-005.eml")).text).toContain("The order total was £79.")
  })

  it("a base64 body is decoded", async () => {
    expect((await one("20240926-001.eml")).text).toContain("I'd like you to erase all of my personal information from your systems")
  })

  it("an HTML-only message has its text, without markup", async () => {
    const e = await one("20241014-002.eml")
    expect(e.text).toContain("I would like to return the Alder Flannel Shirt from order LO-100099")
    expect(e.text).toContain("Zoë Okoro")
    expect(e.text).not.toMatch(/<div|<br|=3D/)
  })

  it("RFC 2047 display names are decoded into traits.name", async () => {
    expect((await one("20241014-002.eml")).traits).toEqual({ name: "Zoë Okoro" })
    expect((await one("20241027-001.eml")).traits).toEqual({ name: "Siobhán Okoro" })
  })

  it("a multipart/alternative message takes its plain-text part", async () => {
    const e = await one("20240914-001.eml")
    expect(e.text).not.toMatch(/<[a-z]+[\s>]/)
    expect(e.text.length).toBeGreaterThan(20)
  })

  it("a reply carries in_reply_to and references (a folded header) without angle brackets", async () => {
    const e = await one("20240911-001.eml")
    expect(e.messageId).toBe("f8e4c92f-dfdd-443f-b91b-e72fec85753f@mail.example")
    expect(e.properties["in_reply_to"]).toBe("2794a9698708be33e8c475f1@lumenoutfitters.example")
    expect(e.properties["references"]).toEqual([
      "4267af92eedc50fbc76d9df4@lumenoutfitters.example",
      "2794a9698708be33e8c475f1@lumenoutfitters.example",
    ])
    expect(e.properties["has_attachments"]).toBe(false)
  })

  it("reports progress up to the bytes of the folder", async () => {
    const seen: Array<number> = []
    await collect(readEmailPath(INBOUND, context({ onProgress: (n) => seen.push(n) })))
    expect(seen.length).toBeGreaterThan(1)
    expect(seen.at(-1)).toBeGreaterThan(100_000)
  })

  it("is registered as a file source and a webhook source", () => {
    expect(FILE_SOURCES.get("email")?.read).toBe(readEmailPath)
    expect(WEBHOOK_SOURCES.get("email")?.parse).toBe(parseEmailWebhook)
  })
})

describe("email connector on odd input", () => {
  it("a message without Message-ID gets a stable id from its content, and says so", async () => {
    const raw = SIMPLE.replace("Message-ID: <abc-123@example.com>\r\n", "")
    const first = split(await parseEmailWebhook(raw, context())).events[0]!
    const again = split(await parseEmailWebhook(raw, context())).events[0]!
    expect(first.messageId).toMatch(/^cdp-mail-[0-9a-f]{32}$/)
    expect(again.messageId).toBe(first.messageId)
    expect(first.properties["message_id_derived"]).toBe(true)
    const other = split(await parseEmailWebhook(raw.replace("late", "early"), context())).events[0]!
    expect(other.messageId).not.toBe(first.messageId)
  })

  it("a message without Date is dated by its Received header, else by the time it was received", async () => {
    const noDate = SIMPLE.replace("Date: Tue, 17 Sep 2024 11:58:24 -0500\r\n", "")
    const received = `Received: from mx.example (mx.example [192.0.2.1])\r\n\tby mx.lumenoutfitters.example; Wed, 18 Sep 2024 10:00:00 +0000\r\n${noDate}`
    const byReceived = split(await parseEmailWebhook(received, context())).events[0]!
    expect(byReceived.timestamp).toBe("2024-09-18T10:00:00.000Z")
    const undated = split(await parseEmailWebhook(noDate, context())).events[0]!
    expect(undated.timestamp).toBe("2025-01-15T12:00:00.000Z")
    expect(undated.originalTimestamp).toBeNull()
    expect(undated.properties["date_missing"]).toBe(true)
  })

  it("a webhook body of one raw message gives one event; an mbox body gives one per message", async () => {
    const single = split(await parseEmailWebhook(SIMPLE, context()))
    expect(single.events.map((e) => [e.messageId, e.text.trim(), e.identifiers[0]!.value, e.traits["name"]]))
      .toEqual([["abc-123@example.com", "My order is late.", "ann@example.com", "Ann Example"]])
    const mbox = split(await parseEmailWebhook(readFileSync(MBOX, "utf8"), context()))
    expect(mbox.events).toHaveLength(8)
  })

  it("an empty file, binary junk, plain prose and a message without sender are dead letters naming the file", async () => {
    const cases: Array<[string, string | Buffer, ReadonlyArray<string>]> = [
      ["empty.eml", "", ["empty_message"]],
      ["junk.eml", BINARY_JUNK, ["not_email", "missing_sender"]],
      ["prose.eml", "Dear support, my boots leak.\n", ["not_email"]],
      ["nosender.eml", SIMPLE.replace("From: Ann Example <ann@example.com>\r\n", ""), ["missing_sender"]],
      ["undisclosed.eml", SIMPLE.replace("<ann@example.com>", ""), ["missing_sender"]],
    ]
    for (const [name, content, rules] of cases) {
      const path = tempFile(name, content)
      const { events, deadLetters } = await collect(readEmailPath(path, context()))
      expect(events).toEqual([])
      expect(deadLetters).toHaveLength(1)
      expect(rules).toContain(deadLetters[0]!.rejection.rule)
      expect(deadLetters[0]!.rejection.message.startsWith(`${path}: `)).toBe(true)
      expect(deadLetters[0]!.source).toBe("email")
    }
  })

  it("in a folder, bad files become dead letters while good ones (in subfolders too) land; other files are ignored", async () => {
    const dir = tempDir()
    mkdirSync(join(dir, "2024", "09"), { recursive: true })
    writeFileSync(join(dir, "a.eml"), SIMPLE)
    writeFileSync(join(dir, "2024", "09", "b.EML"), SIMPLE.replace("abc-123", "def-456"))
    writeFileSync(join(dir, "2024", "broken.eml"), BINARY_JUNK)
    writeFileSync(join(dir, "notes.txt"), "not mail")
    const { events, deadLetters } = await collect(readEmailPath(dir, context()))
    expect(sorted(events.map((e) => e.messageId))).toEqual(["abc-123@example.com", "def-456@example.com"])
    expect(deadLetters).toHaveLength(1)
    expect(deadLetters[0]!.rejection.message).toContain(join(dir, "2024", "broken.eml"))
  })

  it("a bad message inside an mbox is a dead letter naming the message and its line", async () => {
    const mbox = ["From a@example.com Tue Sep 17 17:00:24 2024", SIMPLE.replaceAll("\r\n", "\n"), "From junk Tue Sep 17 17:00:25 2024", "no headers here", ""].join("\n")
    const path = tempFile("archive.mbox", mbox)
    const { events, deadLetters } = await collect(readEmailPath(path, context()))
    expect(events.map((e) => e.messageId)).toEqual(["abc-123@example.com"])
    expect(deadLetters.map((d) => d.rejection.rule)).toEqual(["not_email"])
    expect(deadLetters[0]!.rejection.message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} message 2 \\(line 10\\): `))
  })
})

describe("email connector: the Date header is read as written", () => {
  const dated = (date: string) => SIMPLE.replace("Date: Tue, 17 Sep 2024 11:58:24 -0500", `Date: ${date}`)

  it("a Date in year 0000, 99999, before 1900 or after 2299 is refused as bad_timestamp naming the header, never moved", async () => {
    for (const date of ["Sat, 1 Jan 0000 00:00:00 +0000", "Mon, 1 Jan 99999 00:00:00 +0000", "Sun, 31 Dec 1899 23:59:59 +0000",
      "Mon, 1 Jan 2300 00:00:00 +0000", "Sat, 1 Jan 2000 00:30:00 +0100"]) {
      const { events, deadLetters } = split(await parseEmailWebhook(dated(date), context()))
      if (date.includes("2000")) {
        // Just inside: 1999-12-31T23:30Z.
        expect(events.map((e) => e.timestamp)).toEqual(["1999-12-31T23:30:00.000Z"])
        continue
      }
      expect(events, date).toEqual([])
      expect(deadLetters).toHaveLength(1)
      expect(deadLetters[0]!.rejection).toMatchObject({ rule: "bad_timestamp", field: "/headers/date" })
      expect(deadLetters[0]!.rejection.message).toContain(date)
      expect(deadLetters[0]!.rejection.message).toContain("1900")
      expect(deadLetters[0]!.messageId).toBe("abc-123@example.com")
    }
  })

  it("a Date that is no date-time is refused naming the header, not replaced by another time", async () => {
    for (const date of ["soon", "Tue, 31 Sep 2024 11:58:24 -0500", "Tue, 17 Sep 2024 25:00:00 -0500", "17 Sep 2024"]) {
      const { events, deadLetters } = split(await parseEmailWebhook(dated(date), context()))
      expect(events, date).toEqual([])
      expect(deadLetters[0]!.rejection).toMatchObject({ rule: "bad_timestamp", field: "/headers/date" })
      expect(deadLetters[0]!.rejection.message).toContain("RFC 5322")
    }
  })

  it("RFC 5322's forms are read as written: no weekday, no seconds, zone names, comments, obsolete two-digit years", async () => {
    const cases: ReadonlyArray<[string, string]> = [
      ["17 Sep 2024 11:58 -0500", "2024-09-17T16:58:00.000Z"],
      ["Tue, 17 Sep 2024 11:58:24 GMT", "2024-09-17T11:58:24.000Z"],
      ["Tue, 17 Sep 2024 11:58:24 EDT", "2024-09-17T15:58:24.000Z"],
      ["Tue, 17 Sep 2024 11:58:24 +0000 (UTC)", "2024-09-17T11:58:24.000Z"],
      ["Tue,  17  Sep  2024  11:58:24  +0200", "2024-09-17T09:58:24.000Z"],
      ["Tue, 17 Sep 24 11:58:24 +0000", "2024-09-17T11:58:24.000Z"],
      ["Fri, 17 Sep 99 11:58:24 +0000", "1999-09-17T11:58:24.000Z"],
      ["2024-09-17T11:58:24Z", "2024-09-17T11:58:24.000Z"],
    ]
    for (const [date, iso] of cases) {
      const { events, deadLetters } = split(await parseEmailWebhook(dated(date), context()))
      expect(deadLetters, date).toEqual([])
      expect(events[0]!.timestamp, date).toBe(iso)
    }
  })
})
