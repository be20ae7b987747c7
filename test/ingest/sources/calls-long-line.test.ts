// A call export is read a chunk at a time; a line past 64 MB (cdp ingest's line limit) stops the file there, refused
// naming where the line starts, instead of being held by the CSV parser. Found probing the CLI: `cdp ingest --source
// calls` of a 1 GB file of one line was refused only after 70 s, holding 3.6 GB.
import { createWriteStream } from "node:fs"
import { once } from "node:events"
import { describe, expect, it } from "vitest"
import { readCallsFile } from "../../../ingest/sources/calls.ts"
import { collect, collectMeasured, context, MB, inTempDir, writeBigFile } from "./helpers.ts"

const HEADER = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes"
const ROW = "CA1,2024-09-16T09:28:50Z,60,inbound,201-555-0150,Riley Chen,Billing,resolved,Fine."

describe("a call export with a line longer than 64 MB", () => {
  it("lands the rows before it and refuses the rest, naming the line's first byte and the limit", async () => {
    await inTempDir("long.csv", async (file) => {
      await writeBigFile(file, `${HEADER}\r\n${ROW}\r\n`, 80 * MB, `\r\n${ROW.replace("CA1", "CA2")}\r\n`)
      const { events, deadLetters, rssGrowth } = await collectMeasured(readCallsFile(file, context()))
      expect(events.map((e) => e.messageId)).toEqual(["CA1"])
      expect(deadLetters.map((d) => d.rejection.message)).toEqual([
        `${file}: cannot read the CSV (the line starting at byte ${HEADER.length + ROW.length + 4} is longer than 67108864 bytes)`,
      ])
      // The line was not held: far less than its 80 MB (and the parser's copies of it) was added.
      expect(rssGrowth).toBeLessThan(200 * MB)
    })
  }, 120_000)

  it("a line across chunks up to the limit is read as any other; one byte more is refused", async () => {
    await inTempDir("edge.csv", async (file) => {
      const notes = "n".repeat(150_000)
      const long = ROW.replace("Fine.", notes)
      const out = createWriteStream(file)
      out.end(`${HEADER}\r\n${long}\r\n`)
      await once(out, "finish")
      const { events, deadLetters } = await collect(readCallsFile(file, context(), long.length))
      expect(deadLetters).toEqual([])
      expect(events.map((e) => [e.messageId, e.text.length])).toEqual([["CA1", notes.length]])
      const refused = await collect(readCallsFile(file, context(), long.length - 1))
      expect(refused.events).toEqual([])
      expect(refused.deadLetters.map((d) => d.rejection.message)).toEqual([
        `${file}: cannot read the CSV (the line starting at byte ${HEADER.length + 2} is longer than ${long.length - 1} bytes)`,
      ])
    })
  })
})
