// A dead letter whose id, field or reason the warehouse refuses (half a surrogate pair) is stored with that text made
// storable by the same rule as free text (ingest/utf8.ts): control characters but tab and line breaks removed, not made
// U+FFFD. Its retry reads its payload, the raw item, which is stored whole: the stored text is for people to read.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { retryDeadLetters } from "../../ingest/dlq.ts"
import type { DeadLetter } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const PAYLOAD = JSON.stringify({ id: "ok", network: "reddit", author_handle: "hiker", text: "Love it", created_at: "2024-10-01T10:00:00Z" })

/** A social post an older connector refused, its id, field and reason holding what the warehouse will not store. */
const LETTER: DeadLetter = {
  tenant: "acme", source: "social", receivedAt: "2025-01-15T10:00:00.000Z", messageId: "p\u0000\ud83d1", payload: PAYLOAD,
  rejection: { rule: "bad_rating", field: "/rat\u001bing\u0085", message: "a NUL \u0000, DEL \u007f, C1 \u009b,\ttab, VT\u000bhalf \ud83d" },
}

describe("a dead letter made storable", () => {
  it("has its id, field and reason cleaned by the free-text rule, half an emoji made U+FFFD, its payload whole", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit([], [LETTER])
      expect(yield* query("SELECT message_id, field, reason, payload FROM dead_letters FINAL")).toEqual([{
        message_id: "p\uFFFD1", field: "/rating\n", reason: "a NUL , DEL , C1 ,\ttab, VT\nhalf \uFFFD", payload: PAYLOAD,
      }])
    })))

  it("is retried from its payload, not from the stored text: the post lands with its own id", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit([], [LETTER])
      expect(yield* retryDeadLetters()).toMatchObject({ retried: 1, landed: 1, results: [{ outcome: "landed", messageIds: ["reddit:ok"] }] })
      expect(yield* query("SELECT message_id, text FROM texts")).toEqual([{ message_id: "reddit:ok", text: "Love it" }])
    })))
})
