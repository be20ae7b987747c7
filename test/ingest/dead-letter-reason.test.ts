// A dead letter the warehouse will not store whole is kept without its payload; when its reason itself is what the
// warehouse refuses (half a surrogate pair, a NUL, an over-long text), it is kept with that reason made storable:
// nothing accepted is lost.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import type { DeadLetter } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** A dead letter of its own payload (the same rule over the same payload is one dead letter). */
const letter = (messageId: string, reason: string, payload = JSON.stringify({ messageId })): DeadLetter => ({
  tenant: "acme", source: "segment", receivedAt: "2024-10-01T00:00:00.000Z", messageId,
  rejection: { rule: "bad_thing", field: "/event", message: reason }, payload,
})

describe("a dead letter whose reason the warehouse refuses", () => {
  it("is kept, with its reason made storable and bounded, and the others of its batch whole", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* pipeline.submit([], [
        letter("fine", "an ordinary reason"),
        letter("lone-high", `half an emoji \ud83d in the words`),
        letter("lone-low", `\udc00 at the start`),
        letter("nul", "a NUL \u0000 in the words"),
        letter("nul-and-half", "a NUL \u0000 and half an emoji \ud83d"),
        letter("long", `${"x".repeat(2_000_000)}\ud83d`),
        letter("payload-too", `cut \ud83d`, `{"event":"\ud83d"}`),
      ])
      const rows = yield* query<{ message_id: string; reason: string; payload: string }>(
        "SELECT message_id, reason, payload FROM dead_letters FINAL ORDER BY message_id")
      expect(rows.map((r) => r.message_id)).toEqual(["fine", "lone-high", "lone-low", "long", "nul", "nul-and-half", "payload-too"])
      const of = (id: string) => rows.find((r) => r.message_id === id)!
      expect(of("fine")).toMatchObject({ reason: "an ordinary reason", payload: '{"messageId":"fine"}' })
      // Kept whole but for its reason.
      expect(of("lone-high").payload).toBe('{"messageId":"lone-high"}')
      for (const r of rows) {
        expect(r.reason, r.message_id).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/)
        expect(r.reason.length, r.message_id).toBeLessThanOrEqual(1_001)
      }
      expect(of("lone-high").reason).toBe("half an emoji \uFFFD in the words")
      expect(of("long").reason).toBe(`${"x".repeat(1_000)}…`)
      // The engine stores a NUL: a letter refused for something else loses it, as free text does (ingest/utf8.ts).
      expect(of("nul").reason).toBe("a NUL \u0000 in the words")
      expect(of("nul-and-half").reason).toBe("a NUL  and half an emoji \uFFFD")
      // Neither its reason nor its payload stored: kept without the payload, saying so.
      expect(of("payload-too")).toMatchObject({ payload: "", reason: expect.stringMatching(/^cut \uFFFD \(payload of 13 characters not storable: /) })
    })))
})
