import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const event = (messageId: string, timestamp = "2024-10-01T00:00:00.000Z"): CanonicalEvent => ({
  tenant: "acme", messageId, type: "track", event: "E", anonymousId: "a", userId: "", groupId: "", previousId: "",
  channel: "web", source: "segment", timestamp, originalTimestamp: null, sentAt: null,
  receivedAt: "2024-10-01T00:00:00.000Z", properties: {}, traits: {}, context: {}, extra: {}, identifiers: [],
  text: "", profileId: "",
})

describe("pipeline", () => {
  it("a row the warehouse refuses becomes a dead letter and does not hold back the rest of its batch", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      // A value no connector would produce (the edge refuses it), standing for any row the warehouse cannot store.
      let deep: Record<string, unknown> = {}
      for (let i = 0; i < 100_000; i++) deep = { deep }
      const poisoned = { ...event("bad"), properties: deep }
      yield* pipeline.submit([event("good-1"), poisoned, event("good-2"), event("good-3")], [])
      expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual(
        [{ message_id: "good-1" }, { message_id: "good-2" }, { message_id: "good-3" }])
      const dead = yield* query<{ message_id: string; rule: string; reason: string }>("SELECT message_id, rule, reason FROM dead_letters")
      expect(dead).toEqual([{ message_id: "bad", rule: "warehouse_rejected", reason: expect.stringMatching(/^the warehouse refused this message: /) }])
      expect(pipeline.counters).toMatchObject({ accepted: 4, landed: 3 })
    })))

  it("a message whose time cannot be placed is a dead letter of the identity stage, and the rest lands", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* pipeline.submit([event("good-1"), event("bad", "not a time at all, 000Z")], [])
      expect(yield* query("SELECT message_id FROM events")).toEqual([{ message_id: "good-1" }])
      expect(yield* query("SELECT message_id, rule FROM dead_letters")).toEqual([{ message_id: "bad", rule: "bad_timestamp" }])
    })))
})
