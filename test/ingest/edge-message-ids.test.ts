// Two messages of one batch with the same messageId: only one can land (exactly once per messageId), so the answer
// says what happened to the other, and a different message is never lost without a word.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { checked } from "../support/openapi.ts"
import { freshDir, post, query, removeDir, withCollector } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const track = (messageId: string, event: string, anonymousId = "a1") =>
  ({ type: "track", event, anonymousId, messageId, timestamp: "2024-10-01T10:00:00.000Z" })

describe("collector: one messageId twice in a batch", () => {
  it("a different message under a messageId already in the batch is refused, naming the first, and kept as a dead letter", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      const res = checked("/v1/batch", "POST", yield* post(`${url}/v1/batch`, { batch: [track("m1", "First"), track("m2", "Other"), track("m1", "Second")] }))
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({
        accepted: 2,
        rejected: [{ index: 2, messageId: "m1", rule: "duplicate_message_id", field: "/messageId" }],
      })
      expect((res.body as { rejected: ReadonlyArray<{ message: string }> }).rejected[0]!.message)
        .toMatch(/message 0 of this batch already has messageId "m1".*give each message its own messageId/)
      expect(yield* query("SELECT message_id, event FROM events ORDER BY message_id")).toEqual([
        { message_id: "m1", event: "First" }, { message_id: "m2", event: "Other" },
      ])
      expect(yield* query("SELECT message_id, rule FROM dead_letters")).toEqual([{ message_id: "m1", rule: "duplicate_message_id" }])
    })))

  it("the same message twice (a retry queued beside itself) lands once and is reported as a duplicate of the first", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      const res = checked("/v1/batch", "POST", yield* post(`${url}/v1/batch`, { batch: [track("m1", "First"), track("m1", "First")] }))
      expect(res.status).toBe(200)
      expect(res.body).toEqual({ success: true, accepted: 1, duplicates: [{ index: 1, messageId: "m1", of: 0 }] })
      expect(yield* query("SELECT message_id FROM events")).toEqual([{ message_id: "m1" }])
      expect(yield* query("SELECT message_id FROM dead_letters")).toEqual([])
    })))
})
