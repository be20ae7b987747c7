// A note holding millions of escaped quotes ("") is a field like any other. Found probing cdp serve: a calls post
// whose note held 4,000,000 of them (8 MB) was answered 200 {accepted: 0}, that row and the next gone, kept nowhere;
// cdp ingest refused the whole file as "cannot read the CSV (Maximum call stack size exceeded)", the good row too.
// Notes are bounded at 1,000,000 characters since: such a row is read and refused too_long, kept whole as a dead
// letter; one of 1,000,000 escaped quotes lands.
import { writeFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { parseCallsPost, readCallsFile } from "../../../ingest/sources/calls.ts"
import { collect, context, inTempDir, split } from "./helpers.ts"

const HEADER = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes\n"
const QUOTES = 4_000_000
const BOUND = 1_000_000
const refusedRow = `q1,2024-09-02T10:00:00Z,60,inbound,,Priya,orders,resolved,"${'""'.repeat(QUOTES)}"`
const csv = `${HEADER}${refusedRow}\n` +
  `q2,2024-09-02T10:01:00Z,60,inbound,,Priya,orders,resolved,"${'""'.repeat(BOUND)}"\n` +
  "r1,2024-09-02T10:05:00Z,60,inbound,,Priya,orders,resolved,\"after\"\n"

describe("calls: a note of escaped quotes", () => {
  it("reads a posted row whose note is millions of escaped quotes (refused too_long, kept whole), and the rows after it", async () => {
    const { events, deadLetters } = split(await parseCallsPost(csv, context()))
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([["q1", "too_long", "/notes"]])
    expect(deadLetters[0]!.payload).toBe(`${HEADER}${refusedRow}`)
    expect(events.map((e) => [e.messageId, e.text.length])).toEqual([["q2", BOUND], ["r1", 5]])
  }, 60_000)

  it("reads every row of such a file", async () => {
    await inTempDir("quotes.csv", async (file) => {
      writeFileSync(file, csv)
      const { events, deadLetters } = await collect(readCallsFile(file, context()))
      expect(deadLetters.map((d) => [d.messageId, d.rejection.rule])).toEqual([["q1", "too_long"]])
      expect(events.map((e) => e.messageId)).toEqual(["q2", "r1"])
    })
  }, 60_000)
})
