// Files as other tools write them: a UTF-8 byte order mark (Excel, PowerShell, Notepad) and CRLF, LF and lone CR line
// ends mixed (files joined from two systems). Found probing `cdp ingest`: the BOM cost an NDJSON file its first message
// (not_json), and a call export whose first line ends CRLF read its LF and CR rows as one row (all dead-lettered).
import { describe, expect, it } from "vitest"
import { parseCallsPost, parseCallsWebhook, readCallsFile } from "../../../ingest/sources/calls.ts"
import { readFileLines } from "../../../ingest/sources/items.ts"
import { readSegmentFile } from "../../../ingest/sources/segment-file.ts"
import { readSendgridFile } from "../../../ingest/sources/sendgrid.ts"
import { parseSocialWebhook, readSocialFile } from "../../../ingest/sources/social.ts"
import { collect, context, split, tempFile } from "./helpers.ts"

const BOM = "\uFEFF"
const track = (n: number) => JSON.stringify({ type: "track", userId: `u${n}`, event: `E${n}`, messageId: `m${n}` })
const post = (n: number) => JSON.stringify({
  id: `p${n}`, network: "trustpilot", author_handle: `h${n}`, text: `post ${n}`, created_at: "2026-03-02T15:28:06.804Z", lang: "en",
})
const HEADER = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes"
const call = (n: number) => `c${n},2024-09-16T09:28:5${n}Z,60,inbound,201-555-015${n},Riley,Billing,resolved,"note ${n}"`
/** Lines joined by a BOM-led mix of every line end, the last one ending the file too. */
const mixed = (lines: ReadonlyArray<string>) => `${BOM}${lines[0]}\r\n${lines[1]}\n${lines[2]}\r${lines[3]}\r\n`

describe("a byte order mark and mixed line ends", () => {
  it("an NDJSON file lands every line", async () => {
    const { events, deadLetters } = await collect(readSegmentFile(tempFile("bom.ndjson", mixed([1, 2, 3, 4].map(track))), context()))
    expect(deadLetters.map((d) => d.rejection.message)).toEqual([])
    expect(events.map((e) => e.messageId)).toEqual(["m1", "m2", "m3", "m4"])
  })

  it("a posted NDJSON body and an NDJSON file of another source land every line", async () => {
    const body = mixed([1, 2, 3, 4].map(post))
    const posted = split(parseSocialWebhook(body, context()))
    expect(posted.deadLetters.map((d) => d.rejection.message)).toEqual([])
    expect(posted.events).toHaveLength(4)
    const read = await collect(readSocialFile(tempFile("bom-social.ndjson", body), context()))
    expect(read.deadLetters.map((d) => d.rejection.message)).toEqual([])
    expect(read.events).toHaveLength(4)
  })

  it("a JSON document file (a SendGrid array) is read past its byte order mark", async () => {
    const events = [{ email: "ann@example.com", timestamp: 1700000000, event: "open", sg_event_id: "sg1", sg_message_id: "m1" }]
    const { events: landed, deadLetters } = await collect(readSendgridFile(tempFile("bom.json", `${BOM}${JSON.stringify(events)}\r\n`), context()))
    expect(deadLetters.map((d) => d.rejection.message)).toEqual([])
    expect(landed.map((e) => e.messageId)).toEqual(["sg1"])
  })

  it("a call export lands every row, and a line break inside quoted notes stays in the note", async () => {
    const text = mixed([HEADER, call(1), call(2), call(3)]).replace('"note 2"', '"note\r\ntwo"')
    for (const { events, deadLetters } of [
      await collect(readCallsFile(tempFile("bom.csv", text), context())),
      split(parseCallsWebhook(text, context())),
      split(await parseCallsPost(text, context())),
    ]) {
      expect(deadLetters.map((d) => d.rejection.message)).toEqual([])
      expect(events.map((e) => e.properties?.["call_id"] ?? e.messageId)).toHaveLength(3)
      expect(JSON.stringify(events)).toContain("note\\r\\ntwo")
    }
  })

  it("a document with a raw CR between its tokens (JSON whitespace) lands whole, beside CR-ended lines", async () => {
    const spaced = track(2).replace(',"event"', ',\r"event"')
    const { events, deadLetters } = await collect(readSegmentFile(tempFile("cr-space.ndjson", `${track(1)}\n${spaced}\n${track(3)}\r${track(4)}\n`), context()))
    expect(deadLetters.map((d) => d.rejection.message)).toEqual([])
    expect(events.map((e) => e.messageId)).toEqual(["m1", "m2", "m3", "m4"])
    const posted = split(parseSocialWebhook(`${post(1)}\r${post(2)}\r\n${post(3).replace(',"text"', ',\r"text"')}`, context()))
    expect(posted.deadLetters.map((d) => d.rejection.message)).toEqual([])
    expect(posted.events).toHaveLength(3)
  })

  it("a file with only CR line ends, larger than the line limit, is read a line at a time", async () => {
    const line = "x".repeat(999)
    const count = 68_000 // 68 MB: past the 64 MiB a line may hold
    const path = tempFile("cr-only.ndjson", Buffer.from(`${line}\r`.repeat(count)))
    let lines = 0
    let refused = 0
    for await (const read of readFileLines(path)) {
      lines++
      if (read.refused !== undefined || read.text !== line) refused++
    }
    expect({ lines, refused }).toEqual({ lines: count, refused: 0 })
  })
})
