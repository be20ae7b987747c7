// A note holding millions of escaped quotes ("") is a field like any other. Found probing cdp serve: a calls post
// whose note held 4,000,000 of them (8 MB) was answered 200 {accepted: 0}, that row and the next gone, kept nowhere;
// cdp ingest refused the whole file as "cannot read the CSV (Maximum call stack size exceeded)", the good row too.
import { writeFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { parseCallsPost, readCallsFile } from "../../../ingest/sources/calls.ts"
import { collect, context, inTempDir, split } from "./helpers.ts"

const HEADER = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes\n"
const QUOTES = 4_000_000
const csv = HEADER + `q1,2024-09-02T10:00:00Z,60,inbound,,Priya,orders,resolved,"${'""'.repeat(QUOTES)}"\n` +
  "r1,2024-09-02T10:05:00Z,60,inbound,,Priya,orders,resolved,\"after\"\n"

describe("calls: a note of escaped quotes", () => {
  it("lands a posted row whose note is millions of escaped quotes, and the row after it", async () => {
    const { events, deadLetters } = split(await parseCallsPost(csv, context()))
    expect(deadLetters).toEqual([])
    expect(events.map((e) => [e.messageId, e.text.length])).toEqual([["q1", QUOTES], ["r1", 5]])
  }, 60_000)

  it("lands both rows of such a file", async () => {
    await inTempDir("quotes.csv", async (file) => {
      writeFileSync(file, csv)
      const { events, deadLetters } = await collect(readCallsFile(file, context()))
      expect(deadLetters).toEqual([])
      expect(events.map((e) => e.messageId)).toEqual(["q1", "r1"])
    })
  }, 60_000)
})
