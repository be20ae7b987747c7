// A messageId of spaces says no more than an empty one: the message gets the id derived from its content. Found
// probing cdp serve: two different tracks of two users, each with "messageId": "  ", were both answered 200, and the
// second never landed (taken for a duplicate of the first).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { freshDir, post, query, removeDir, withCollector } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("Segment: a blank messageId", () => {
  it("lands two different messages whose messageId is spaces, each once, its retry folding into it", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        for (const body of [{ userId: "u1", event: "First", messageId: "  " }, { userId: "u2", event: "Second", messageId: "  " }, { userId: "u2", event: "Second", messageId: "  " }]) {
          expect((yield* post(`${url}/v1/track`, body)).status).toBe(200)
        }
        const rows = yield* query<{ event: string; message_id: string }>("SELECT event, message_id FROM events ORDER BY event")
        expect(rows.map((r) => r.event)).toEqual(["First", "Second"])
        expect(rows.every((r) => r.message_id.trim() !== "")).toBe(true)
      })))
})
