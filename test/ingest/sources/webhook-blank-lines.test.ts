// An NDJSON webhook body is read line by line without first cutting it into an array of every line. Found probing cdp
// serve: a 9 MB social post of nothing but line breaks held the collector's event loop 1.1 s (every tenant's requests
// waited), and a post of 3,000,000 one-item lines was cut whole although reading stops after 10,001 items.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { parseSocialWebhook } from "../../../ingest/sources/social.ts"
import { longestStall } from "../../support/event-loop.ts"
import { context, split } from "./helpers.ts"

/** `read` run on the event loop, with the CPU time of its longest piece (a timer turn after it, to be counted). */
const measured = <A>(read: () => A) =>
  Effect.runPromise(longestStall(Effect.sleep("10 millis").pipe(Effect.andThen(Effect.sync(read)), Effect.tap(() => Effect.sleep("10 millis")))))

const post = (i: number) => JSON.stringify({ id: `p${i}`, network: "reddit", author_handle: "h", text: "fine", created_at: "2024-10-01T10:00:00Z" })

describe("webhooks: NDJSON bodies of many lines", () => {
  it("reads 9,000,000 blank lines (LF, CRLF or lone CR) without holding the event loop", async () => {
    for (const end of ["\n", "\r\n", "\r"]) {
      const body = `${post(1)}${end}${end.repeat(9_000_000 / end.length)}${post(2)}${end}`
      const { result, longestMs } = await measured(() => parseSocialWebhook(body, context({ maxItems: 10_000 })))
      const { events, deadLetters } = split(result)
      expect(deadLetters).toEqual([])
      expect(events.map((e) => e.messageId)).toEqual(["reddit:p1", "reddit:p2"])
      // Before: 500-900 ms of CPU in one piece (each line of the body cut out first); now 100-170 ms, a lone CR
      // 240-360 ms (the line of CRs is first read as one JSON text, which a CR inside one may be).
      expect(longestMs).toBeLessThan(400)
    }
  }, 60_000)

  it("stops reading past the item limit", async () => {
    const body = "{}\n".repeat(3_000_000)
    const { result, longestMs } = await measured(() => parseSocialWebhook(body, context({ maxItems: 10_000 })))
    expect(result).toHaveLength(10_001)
    expect(longestMs).toBeLessThan(400)
  }, 60_000)

  it("names lines as before: a lone CR ends a line, CRLF ends one", async () => {
    const items = split(parseSocialWebhook(`${post(1)}\r\rnot json\r\n\n${post(3)}`, context()))
    expect(items.events.map((e) => e.messageId)).toEqual(["reddit:p1", "reddit:p3"])
    expect(items.deadLetters.map((d) => d.rejection.message)).toEqual([expect.stringMatching(/^line 3: /)])
  })
})
