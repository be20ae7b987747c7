// A SendGrid file past what a JSON document may be (64 MB) is read as NDJSON, a line at a time, when it is NDJSON;
// one JSON document that large is refused unread, in words. Found probing cdp ingest: a 100 MB NDJSON export was
// one dead letter (too_large, its 100 MB kept as the payload), and a 646 MB JSON array was refused as "Cannot create
// a string longer than 0x1fffffe8 characters" after reading it all (2 GB resident).
import { createWriteStream } from "node:fs"
import { once } from "node:events"
import { describe, expect, it } from "vitest"
import { JSON_LIMITS } from "../../../ingest/json.ts"
import { readSendgridFile } from "../../../ingest/sources/sendgrid.ts"
import { readTwitterFile } from "../../../ingest/sources/twitter.ts"
import { collect, context, inTempDir, MB } from "./helpers.ts"

const PAD = "x".repeat(10_000)
const event = (i: number) => JSON.stringify({ email: `p${i}@x.example`, event: "open", sg_event_id: `e${i}`, timestamp: 1_725_000_000 + i, pad: PAD })

/** Lines of `line(i)` (or, as an array, its items) until past `bytes`; how many were written. */
const writeLines = async (file: string, bytes: number, asArray = false): Promise<number> => {
  const out = createWriteStream(file)
  let written = 0
  let i = 0
  if (asArray) out.write("[")
  for (; written < bytes; i++) {
    const text = asArray ? `${i === 0 ? "" : ","}${event(i)}` : `${event(i)}\n`
    written += text.length
    if (!out.write(text)) await once(out, "drain")
  }
  out.end(asArray ? "]" : "")
  await once(out, "finish")
  return i
}

describe("sendgrid and twitter files past 64 MB", () => {
  it("lands every event of an NDJSON export larger than a JSON document may be", async () => {
    await inTempDir("events.ndjson", async (file) => {
      const lines = await writeLines(file, JSON_LIMITS.maxBytes + 2 * MB)
      const { events, deadLetters } = await collect(readSendgridFile(file, context()))
      expect(deadLetters).toEqual([])
      expect(events.length).toBe(lines)
    })
  }, 120_000)

  it("refuses one JSON array that large unread, naming the size and the limit", async () => {
    await inTempDir("events.json", async (file) => {
      await writeLines(file, JSON_LIMITS.maxBytes + MB, true)
      const { events, deadLetters } = await collect(readSendgridFile(file, context()))
      expect(events).toEqual([])
      expect(deadLetters.map((d) => [d.rejection.rule, d.payload])).toEqual([["too_large", ""]])
      expect(deadLetters[0]!.rejection.message).toMatch(/is \d+ bytes; .*at most 67108864 bytes/)
      // Its payload is empty: the message says the bytes are not kept, so no reader takes "" for the file.
      expect(deadLetters[0]!.rejection.message).toContain("refused unread: this dead letter does not keep its bytes")
      const pages = await collect(readTwitterFile(file, context()))
      expect(pages.deadLetters.map((d) => [d.rejection.rule, d.payload])).toEqual([["too_large", ""]])
    })
  }, 120_000)
})
