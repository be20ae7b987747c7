// The consent strings of messages read with no sender to answer (`cdp ingest`, archive replay, dead-letter retries)
// are decoded under the same budget as a request's: spent, the reader gives the event loop a turn and goes on with a
// new one; only a message whose own strings need more than a whole budget is refused, as a dead letter naming why.
import { cpSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { tcfProblem } from "../../consent/index.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { replayArchive } from "../../ingest/replay.ts"
import type { ImportedItem } from "../../ingest/sources/index.ts"
import { ConsentPacing, normaliseSegmentMessage } from "../../ingest/sources/segment.ts"
import { readSegmentFile } from "../../ingest/sources/segment-file.ts"
import { longestStall } from "../support/event-loop.ts"
import { freshDirsPerTest, query, withPipeline } from "../support/pipeline.ts"
import { restrictingTcf } from "../support/tcf.ts"

process.env["CDP_RETENTION"] = "archive=forever"

const dirs = freshDirsPerTest("a", "b")

/** 300 messages, each with its own costly string (made for this file only: version `version`). */
const costlyMessages = (version: number) => Array.from({ length: 300 }, (_, i) => ({
  type: "track", event: "E", anonymousId: `a${i}`, messageId: `m${i}`, timestamp: "2025-01-15T10:00:00.000Z",
  context: { consent: { tcf: restrictingTcf(i + 2, 1_999, version) } },
}))

/** Reads other strings, as traffic meanwhile does, until none of those read before is still kept decoded. */
const readManyOthers = (version: number) => {
  for (let i = 0; i < 4_200; i++) tcfProblem(restrictingTcf((i % 4_000) + 2, 1, version + Math.floor(i / 4_000)))
}

const collect = (items: AsyncIterable<ImportedItem>) =>
  Effect.promise(async () => {
    const out: Array<ImportedItem> = []
    for await (const item of items) out.push(item)
    return out
  })

describe("consent strings read with no sender to answer", () => {
  it("cdp ingest of a file of 300 distinct costly strings gives the event loop turns and lands every line", async () => {
    const file = join(dirs.a, "costly.ndjson")
    writeFileSync(file, costlyMessages(101).map((m) => JSON.stringify(m)).join("\n"))
    const { result: items, longestMs } = await Effect.runPromise(longestStall(collect(readSegmentFile(file, { tenant: "acme", receivedAtMs: Date.now() }))))
    // Before: 300 strings of ~5 ms each decoded without a turn (1.5 s of CPU).
    expect(longestMs).toBeLessThan(600)
    expect(items.filter((i) => i._tag === "event")).toHaveLength(300)
  })

  it("a replay of 300 archived messages with distinct costly strings gives the event loop turns and lands them all", async () => {
    // Landed (and archived, one archive batch) in one request, as before the budget was.
    const messages = costlyMessages(102)
    const receivedAtMs = Date.parse("2025-01-15T12:00:00.000Z")
    await withPipeline(dirs.a, Effect.gen(function* () {
      const events: Array<CanonicalEvent> = messages.map((m) =>
        normaliseSegmentMessage(m as never, { tenant: "acme", receivedAtMs, correctClockSkew: false }, { body: JSON.stringify(m), json: true }))
      yield* (yield* Pipeline).submit(events, [])
    }))
    cpSync(join(dirs.a, "objects"), join(dirs.b, "objects"), { recursive: true })
    readManyOthers(200)
    await withPipeline(dirs.b, Effect.gen(function* () {
      const { result: summary, longestMs } = yield* longestStall(replayArchive({ from: new Date(receivedAtMs - 1000), to: new Date(receivedAtMs + 1000) }))
      expect(longestMs).toBeLessThan(600)
      expect(summary).toMatchObject({ records: 300, accepted: 300, rejected: 0, landed: 300 })
      expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "300" }])
    }))
  }, 120_000)

  it("a message whose own strings need more than a whole budget is a dead letter naming why; the next message is read", async () => {
    const file = join(dirs.a, "one.ndjson")
    writeFileSync(file, [
      { type: "track", event: "E", anonymousId: "a1", messageId: "two-strings", context: { consent: { tcf: restrictingTcf(2, 1_999, 103) } }, properties: { gdpr_consent: restrictingTcf(3, 1_999, 103) } },
      { type: "track", event: "E", anonymousId: "a2", messageId: "one-string", context: { consent: { tcf: restrictingTcf(4, 1_999, 103) } } },
    ].map((m) => JSON.stringify(m)).join("\n"))
    // A budget one costly string spends.
    const items = await Effect.runPromise(collect(readSegmentFile(file, { tenant: "acme", receivedAtMs: Date.now(), consentPacing: new ConsentPacing({ work: 1 }) })))
    const [first, second] = items
    expect(first?._tag === "deadLetter" && first.deadLetter.rejection).toMatchObject({ rule: "too_many_consent_strings", field: "/properties/gdpr_consent" })
    expect(first?._tag === "deadLetter" && first.deadLetter.rejection.message)
      .toMatch(/^line 1: properties\.gdpr_consent, a TCF string, was not decoded: this message's consent strings \(TCF and GPP\) already needed/)
    expect(second?._tag === "event" && second.event.messageId).toBe("one-string")
  })
})
