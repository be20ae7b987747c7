// A call export is read a chunk at a time; a line past 64 MB (cdp ingest's line limit) stops the file there, refused
// naming where the line starts, instead of being held by the CSV parser. Found probing the CLI: `cdp ingest --source
// calls` of a 1 GB file of one line was refused only after 70 s, holding 3.6 GB.
import { createWriteStream, rmSync } from "node:fs"
import { once } from "node:events"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { readCallsFile } from "../../../ingest/sources/calls.ts"
import { collect, context, tempDir } from "./helpers.ts"

const HEADER = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes"
const ROW = "CA1,2024-09-16T09:28:50Z,60,inbound,201-555-0150,Riley Chen,Billing,resolved,Fine."

describe("a call export with a line longer than 64 MB", () => {
  it("lands the rows before it and refuses the rest, naming the line's first byte and the limit", async () => {
    const dir = tempDir()
    const file = join(dir, "long.csv")
    try {
      const out = createWriteStream(file)
      out.write(`${HEADER}\r\n${ROW}\r\n`)
      const chunk = Buffer.alloc(1024 * 1024, "a")
      for (let i = 0; i < 80; i++) if (!out.write(chunk)) await once(out, "drain")
      out.end(`\r\n${ROW.replace("CA1", "CA2")}\r\n`)
      await once(out, "finish")
      const started = process.memoryUsage().rss
      const { events, deadLetters } = await collect(readCallsFile(file, context()))
      expect(events.map((e) => e.messageId)).toEqual(["CA1"])
      expect(deadLetters.map((d) => d.rejection.message)).toEqual([
        `${file}: cannot read the CSV (the line starting at byte ${HEADER.length + ROW.length + 4} is longer than 67108864 bytes)`,
      ])
      // The line was not held: far less than its 80 MB (and the parser's copies of it) was added.
      expect(process.memoryUsage().rss - started).toBeLessThan(200 * 1024 * 1024)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)

  it("a line across chunks up to the limit is read as any other; one byte more is refused", async () => {
    const dir = tempDir()
    const file = join(dir, "edge.csv")
    try {
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
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
