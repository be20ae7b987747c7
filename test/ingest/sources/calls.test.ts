import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { phoneToE164 } from "../../../identity/index.ts"
import { DEFAULT_CALL_COLUMNS, parseCallsPost, parseCallsWebhook, readCallsFile } from "../../../ingest/sources/calls.ts"
import { FILE_SOURCES, WEBHOOK_SOURCES } from "../../../ingest/sources/index.ts"
import { BINARY_JUNK, collect, context, DEV, sorted, split, tempFile, truthChannels, truthIds } from "./helpers.ts"

const DEV_FILE = join(DEV, "calls.csv")
const isDevFile = (source: string) => source === "calls.csv"
const HEADER = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes"
const row = (id: string, overrides: Partial<Record<keyof typeof DEFAULT_CALL_COLUMNS, string>> = {}): string => {
  const values = { call_id: id, started_at: "2024-09-16T09:28:50Z", duration_s: "60", direction: "inbound", phone: "201-555-0150",
    agent: "Riley Chen", queue: "Billing", outcome: "resolved", notes: "Fine.", ...overrides }
  return Object.values(values).join(",")
}
const csv = (...lines: ReadonlyArray<string>): string => `${lines.join("\r\n")}\r\n`

describe("calls connector on the dev set", () => {
  it("lands every call item id of the truth once, nothing extra, no dead letters", async () => {
    const { events, deadLetters } = await collect(readCallsFile(DEV_FILE, context()))
    expect(deadLetters).toEqual([])
    expect(sorted(events.map((e) => e.messageId))).toEqual(sorted(truthIds(isDevFile)))
    expect(truthChannels(isDevFile)).toEqual(new Set(["call"]))
    expect(new Set(events.map((e) => `${e.channel}/${e.source}/${e.type}/${e.event}`))).toEqual(new Set(["call/calls/track/Call"]))
  })

  it("notes keep their commas, doubled quotes and line breaks intact", async () => {
    const { events } = await collect(readCallsFile(DEV_FILE, context()))
    const byId = new Map(events.map((e) => [e.messageId, e]))
    expect(byId.get("CAc189f5dc61dccaa747882e116cd770da")!.text).toBe(
      'Customer called just to say thanks for quick exchange, "best service ever". Logged compliment for team.\nFollow-up: ticket #366070')
    expect(byId.get("CA291010f1ebdb5dac4eb05793e726ec56")!.text).toBe(
      'Order LO-100494 late, customer "very annoyed"; opened courier claim, upgraded shipping.')
    // Counts from an independent RFC 4180 reader (Python's csv module) over the same file.
    expect(events.filter((e) => e.text.includes("\n")).length).toBe(76)
    expect(events.filter((e) => e.text.includes('"')).length).toBe(135)
    expect(events.filter((e) => e.text.includes(",")).length).toBe(600)
    expect(events.reduce((n, e) => n + e.text.length, 0)).toBe(62319)
    expect(events.some((e) => e.text.includes("\r"))).toBe(false)
  })

  it("a withheld number gives no phone identifier; a logged one is given to identity in E.164, as the switch's countries read it", async () => {
    const { events } = await collect(readCallsFile(DEV_FILE, context()))
    const byId = new Map(events.map((e) => [e.messageId, e]))
    for (const [id, word] of [["CA8e58abd42efb094d16b62a580cd28772", "Unknown"], ["CAcda7b2ded9ecdd23206b237b44a138a2", "anonymous"],
      ["CAc17db7e9d21e42d9292a0c7691dfa378", "Restricted"]] as const) {
      expect(byId.get(id)!.identifiers).toEqual([])
      expect(byId.get(id)!.properties["phone_e164"]).toBeUndefined()
      expect(byId.get(id)!.properties["phone_withheld"]).toBe(word)
    }
    const uk = byId.get("CAd79b59146a475a9ad1bad5f277821b7c")!
    expect(uk.identifiers).toEqual([{ kind: "phone", value: "+441614960767" }])
    expect(uk.properties).toEqual({ duration_s: 120, direction: "outbound", agent: "Taylor Brooks", queue: "General", outcome: "resolved", phone_e164: "+441614960767" })
    expect(uk.timestamp).toBe("2024-09-06T01:52:35.000Z")
    expect(byId.get("CA91bc7eed7a08cb37512f97abe432f2f2")!.properties["phone_e164"]).toBe("+447700900911")
    expect(byId.get("CAbacd8fa2c284582b89286098f17f90c6")!.properties["phone_e164"]).toBe("+19195550187")
    expect(events.filter((e) => e.identifiers.length === 0)).toHaveLength(4)
  })

  it("the E.164 of every logged number is one of the truth's numbers for that caller", async () => {
    const persons = new Map(readFileSync(join(DEV, "truth/persons.ndjson"), "utf8").split("\n").filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { person_id: string; phones: Array<string> }).map((p) => [p.person_id, p.phones]))
    const owners = new Map(readFileSync(join(DEV, "truth/items.ndjson"), "utf8").split("\n").filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { item_id: string; person_id: string }).map((i) => [i.item_id, i.person_id]))
    const { events } = await collect(readCallsFile(DEV_FILE, context()))
    const withE164 = events.filter((e) => e.properties["phone_e164"] !== undefined)
    expect(withE164.length).toBeGreaterThan(760)
    for (const e of withE164) expect(persons.get(owners.get(e.messageId)!)).toContain(e.properties["phone_e164"])
  })

  it("reports progress up to the file's size", async () => {
    const seen: Array<number> = []
    await collect(readCallsFile(DEV_FILE, context({ onProgress: (n) => seen.push(n) })))
    expect(seen.at(-1)).toBe(readFileSync(DEV_FILE).length)
  })

  it("is registered as a file source and a webhook source", () => {
    expect(FILE_SOURCES.get("calls")?.read).toBe(readCallsFile)
    expect(WEBHOOK_SOURCES.get("calls")?.parse).toBe(parseCallsPost)
  })
})

describe("calls: a posted export", () => {
  // A 10 MB post held the collector's event loop for 8-15 s (load 17-20): /health and every tenant waited. Found by
  // probing cdp serve with a 1,000,000-column header and with 50,000 ordinary rows.
  it("is parsed a chunk at a time, so the event loop turns while a large body is read, with the same items as at once", async () => {
    const body = csv(HEADER, ...Array.from({ length: 3000 }, (_, i) => row(`CA${i}`, { notes: `caf\u00e9 \u{1F600} ${"x".repeat(i % 7)}` })))
    let turns = 0
    let counting = true
    const tick = () => {
      turns++
      if (counting) setImmediate(tick)
    }
    setImmediate(tick)
    const items = await parseCallsPost(body, context())
    counting = false
    expect(Buffer.byteLength(body)).toBeGreaterThan(8 * 32 * 1024)
    expect(turns).toBeGreaterThanOrEqual(8)
    expect(items).toEqual(parseCallsWebhook(body, context()))
    expect(split(items).events.length).toBe(3000)
  })

  it("stops reading at a header that is no call export, without parsing the rest", async () => {
    const wide = `${HEADER},${Array.from({ length: 20_000 }, (_, i) => `c${i}`).join(",")}`
    const { events, deadLetters } = split(await parseCallsPost(csv(wide, row("CA1")), context()))
    expect(events).toEqual([])
    expect(deadLetters.map((d) => d.rejection.rule)).toEqual(["too_many_columns"])
    expect(deadLetters[0]!.rejection.message).toContain("20009 columns")
  })
})

describe("calls: columns and options", () => {
  it("a header missing a required column is one dead letter for the file naming the column", async () => {
    const path = tempFile("calls.csv", csv("call_id,started_at,duration_s,direction,agent,queue,outcome,notes", "CA1,2024-09-16T09:28:50Z,60,inbound,R,Q,resolved,x"))
    const { events, deadLetters } = await collect(readCallsFile(path, context()))
    expect(events).toEqual([])
    expect(deadLetters.map((d) => [d.rejection.rule, d.rejection.field])).toEqual([["missing_column", "/phone"]])
    expect(deadLetters[0]!.rejection.message).toContain('the header has no "phone" column')
  })

  it("a column mapping reads another export's header; a field mapped to null is simply absent", async () => {
    const body = csv("Call SID,Start Time,Caller,Notes,Region", "CA1,2024-09-16T09:28:50Z,+44 7700 900123,\"Hi, \"\"there\"\"\",EU")
    const options = { columns: { call_id: "Call SID", started_at: "start time", phone: "Caller", notes: "Notes", duration_s: null, direction: null, agent: null, queue: null, outcome: null } }
    const { events, deadLetters } = split(parseCallsWebhook(body, context({ options })))
    expect(deadLetters).toEqual([])
    expect(events.map((e) => [e.messageId, e.text, e.identifiers[0]?.value, e.properties, e.extra])).toEqual([
      ["CA1", 'Hi, "there"', "+447700900123", { phone_e164: "+447700900123" }, { Region: "EU" }],
    ])
  })

  it("a duration is read as the decimal seconds written: hex, binary, exponents or more digits than a number keeps are refused", () => {
    const bad = ["0x3C", "0b111100", "6e1", "99999999999999999999", "1_000", "+60"]
    const good = ["0", "60", "60.5", " 42 ", "9007199254740991"]
    const body = csv(HEADER, ...[...bad, ...good].map((d, i) => row(`D${i}`, { duration_s: d })))
    const { events, deadLetters } = split(parseCallsWebhook(body, context()))
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule])).toEqual(bad.map((_, i) => [`D${i}`, "bad_duration"]))
    expect(events.map((e) => e.properties["duration_s"])).toEqual([0, 60, 60.5, 42, 9007199254740991])
  })

  it("a column named __proto__ is kept in extra as the export's column, not as extra's prototype", () => {
    const body = csv("Call SID,Start Time,Caller,__proto__", "CA1,2024-09-16T09:28:50Z,+44 7700 900123,EU")
    const options = { columns: { call_id: "Call SID", started_at: "start time", phone: "Caller", notes: null, duration_s: null, direction: null, agent: null, queue: null, outcome: null } }
    const { events, deadLetters } = split(parseCallsWebhook(body, context({ options })))
    expect(deadLetters).toEqual([])
    expect(JSON.stringify(events[0]!.extra)).toBe('{"__proto__":"EU"}')
  })

  it("options that make no sense are one dead letter saying what is wrong", () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ columns: { call_id: null } }, "columns.call_id must be a column name"],
      [{ columns: { caller: "Phone" } }, "columns.caller is not a call field"],
      [{ defaultCountry: "ZZ" }, "defaultCountry must be a two-letter country code"],
      [{ fallbackCountries: "GB" }, "fallbackCountries must be a list"],
    ]
    for (const [options, message] of cases) {
      const { events, deadLetters } = split(parseCallsWebhook(csv(HEADER, row("CA1")), context({ options })))
      expect(events).toEqual([])
      expect(deadLetters.map((d) => d.rejection.rule)).toEqual(["bad_options"])
      expect(deadLetters[0]!.rejection.message).toContain(message)
    }
  })

  it("national numbers are read in the default country, then the fallbacks; junk gets no E.164", () => {
    expect(phoneToE164("(201) 555-0193", ["US", "GB"])).toBe("+12015550193")
    expect(phoneToE164("020 7946 0958", ["US", "GB"])).toBe("+442079460958")
    expect(phoneToE164("0044 20 7946 0958", ["US"])).toBe("+442079460958")
    expect(phoneToE164("447700900085", ["US", "GB"])).toBe("+447700900085")
    expect(phoneToE164("07700 900123", ["US", "GB"])).toBe("+447700900123")
    expect(phoneToE164("07700 900123", ["US"])).toBeUndefined()
    expect(phoneToE164("020 7946 0958", ["GB", "US"])).toBe("+442079460958")
    expect(phoneToE164("0000000000", ["US", "GB"])).toBeUndefined()
    expect(phoneToE164("1111111111", ["US", "GB"])).toBeUndefined()
    expect(phoneToE164("12", ["US", "GB"])).toBeUndefined()
  })
})

describe("calls: rows that must be refused", () => {
  it("each bad row is a dead letter with its row and line number, and good rows still land", () => {
    const body = csv(
      HEADER,
      row("CA1"),
      row("CA2", { started_at: "16/09/2024" }),
      row("CA3", { duration_s: "ten" }),
      row("", { notes: '"multi\nline"' }),
      "CA5,2024-09-16T09:28:50Z,60",
      row("CA6", { notes: '"said ""hi"", then\nleft"' }),
      row("CA7", { duration_s: "" }),
    )
    const { events, deadLetters } = split(parseCallsWebhook(body, context()))
    expect(events.map((e) => e.messageId)).toEqual(["CA1", "CA6", "CA7"])
    expect(events[1]!.text).toBe('said "hi", then\nleft')
    expect(events[2]!.properties["duration_s"]).toBeUndefined()
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message.split(":")[0]])).toEqual([
      ["CA2", "bad_timestamp", "/started_at", "body row 2 (line 3)"],
      ["CA3", "bad_duration", "/duration_s", "body row 3 (line 4)"],
      ["", "missing_call_id", "/call_id", "body row 4 (line 5)"],
      ["CA5", "wrong_column_count", "", "body row 5 (line 7)"],
    ])
    // With its header line, so the row parses alone when re-driven.
    expect(deadLetters[0]!.payload).toBe(`${HEADER}\n${row("CA2", { started_at: "16/09/2024" })}`)
    expect(deadLetters[3]!.rejection.message).toContain("has 3 fields, the header has 9")
  })

  it("a malformed quote is a dead letter for that row, never a throw", () => {
    const { events, deadLetters } = split(parseCallsWebhook(csv(HEADER, row("CA1"), row("CA2", { notes: 'bad"quote' }), row("CA3")), context()))
    expect(events.map((e) => e.messageId)).toEqual(["CA1", "CA3"])
    expect(deadLetters.map((d) => d.rejection.rule)).toEqual(["bad_csv"])
    expect(deadLetters[0]!.rejection.message).toMatch(/^body row 2 \(line 3\): /)
    const unclosed = split(parseCallsWebhook(csv(HEADER, row("CA1"), row("CA2", { notes: '"never closed' })), context()))
    expect(unclosed.events.map((e) => e.messageId)).toEqual(["CA1"])
    expect(unclosed.deadLetters.map((d) => d.rejection.rule)).toEqual(["bad_csv"])
  })

  it("a long line of stray quotes is one dead letter, not one per quote (csv-parse's strict mode reported each)", async () => {
    // 20 KB of '{"a":' on one line: strict csv-parse with skip_records_with_error gave 8,192 dead letters for it and
    // spent ~30 s of the event loop; as a header it blocked the collector as long for one dead letter.
    const junk = '{"a":'.repeat(4096)
    const posted = split(await parseCallsPost(csv(HEADER, row("CA1"), junk, row("CA3")), context()))
    expect(posted.events.map((e) => e.messageId)).toEqual(["CA1", "CA3"])
    expect(posted.deadLetters.map((d) => d.rejection.rule)).toEqual(["bad_csv"])
    expect(posted.deadLetters[0]!.rejection.message).toMatch(/^body row 2 \(line 3\): Invalid Opening Quote: a quote is found on field 0, /)
    expect(posted.deadLetters[0]!.payload).toBe(`${HEADER}\n${junk}`)
    const file = await collect(readCallsFile(tempFile("quotes.csv", csv(HEADER, junk, row("CA3"))), context()))
    expect([file.events.map((e) => e.messageId), file.deadLetters.map((d) => d.rejection.rule)]).toEqual([["CA3"], ["bad_csv"]])
    const header = split(await parseCallsPost(csv(junk, row("CA1")), context()))
    expect(header.events).toEqual([])
    expect(header.deadLetters.map((d) => d.rejection.rule)).toEqual(["bad_csv"])
    expect(header.deadLetters[0]!.rejection.message).toMatch(/^body: the header is not valid CSV \(Invalid Opening Quote: a quote is found on field 0, /)
  })

  it("an empty file, a header-only file and binary junk never crash: empty says so, junk is not UTF-8 and kept as its bytes", async () => {
    const empty = await collect(readCallsFile(tempFile("empty.csv", ""), context()))
    expect(empty.deadLetters.map((d) => d.rejection.rule)).toEqual(["missing_header"])
    expect(await collect(readCallsFile(tempFile("header.csv", `${HEADER}\r\n`), context()))).toEqual({ events: [], deadLetters: [] })
    const junk = await collect(readCallsFile(tempFile("junk.csv", BINARY_JUNK), context()))
    expect(junk.events).toEqual([])
    expect(junk.deadLetters.length).toBeGreaterThan(0)
    // Its first record (the header) is refused, and with it the file; the dead letter keeps that record's bytes.
    expect(junk.deadLetters.map((d) => [d.rejection.rule, d.payloadEncoding])).toEqual([["invalid_utf8", "base64"]])
    expect(BINARY_JUNK.includes(Buffer.from(junk.deadLetters[0]!.payload, "base64"))).toBe(true)
  })

  it("a body posted to the webhook gives the same items as the file", async () => {
    const fromFile = await collect(readCallsFile(DEV_FILE, context()))
    expect(split(parseCallsWebhook(readFileSync(DEV_FILE, "utf8"), context()))).toEqual(fromFile)
  })
})

describe("calls: a call's notes are bounded", () => {
  const huge = "y".repeat(2e7)

  it("a row whose notes are 20 MB is a dead letter naming the column and the bound; the other rows land", async () => {
    const { events, deadLetters } = await collect(readCallsFile(tempFile("huge.csv", csv(HEADER, row("CA1"), row("CA2", { notes: huge }), row("CA3"))), context()))
    expect(events.map((e) => e.messageId)).toEqual(["CA1", "CA3"])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message.split(": ")[1]])).toEqual([
      ["CA2", "too_long", "/notes", "notes is longer than 1000000 characters"],
    ])
    // Nothing accepted is lost: the dead letter keeps the header and the whole row.
    expect(deadLetters[0]!.payload).toBe(`${HEADER}\n${row("CA2", { notes: huge })}`)
  })

  it("a posted transcript column (mapped from notes) past the bound is named as the export names it", async () => {
    const options = { columns: { notes: "Transcript" } }
    const body = csv(HEADER.replace("notes", "Transcript"), row("CA1", { notes: "y".repeat(1_000_001) }))
    const { events, deadLetters } = split(await parseCallsPost(body, context({ options })))
    expect(events.map((e) => e.messageId)).toEqual([])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["CA1", "too_long", "/Transcript", "body row 1 (line 2): Transcript is longer than 1000000 characters"],
    ])
  })

  it("notes of 1,000,000 characters (a transcript of hours of talk) land whole", () => {
    const { events, deadLetters } = split(parseCallsWebhook(csv(HEADER, row("CA1", { notes: "é".repeat(1_000_000) })), context()))
    expect(deadLetters).toEqual([])
    expect(events.map((e) => e.text.length)).toEqual([1_000_000])
  })
})

describe("calls: the short fields are bounded", () => {
  const huge = "y".repeat(1_000_000)

  it("a direction, phone, agent, queue or outcome past 1,024 characters is a dead letter naming its column; 1,024 lands", async () => {
    const fields = ["direction", "phone", "agent", "queue", "outcome"] as const
    const body = csv(HEADER, row("CA0", { agent: "A".repeat(1_024), queue: "Q".repeat(1_024) }), ...fields.map((f, i) => row(`CA${i + 1}`, { [f]: huge })))
    const { events, deadLetters } = split(await parseCallsPost(body, context()))
    expect(events.map((e) => e.messageId)).toEqual(["CA0"])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message.split(": ")[1]])).toEqual(
      fields.map((f, i) => [`CA${i + 1}`, "too_long", `/${f}`, `${f} is longer than 1024 characters`]))
  })
})

describe("calls: a call id is bounded as other sources' ids are", () => {
  it("a call_id past 256 characters is a dead letter naming its column; one of 256 lands as the item's id", () => {
    const { events, deadLetters } = split(parseCallsWebhook(csv(HEADER, row("C".repeat(1_000_000)), row("D".repeat(256))), context()))
    expect(events.map((e) => e.messageId.length)).toEqual([256])
    expect(deadLetters.map((d) => [d.messageId.length, d.rejection.rule, d.rejection.field, d.rejection.message.split(": ")[1]])).toEqual([
      [0, "too_long", "/call_id", "call_id is longer than 256 characters"],
    ])
  })
})
