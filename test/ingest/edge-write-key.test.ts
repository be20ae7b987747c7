// A write key sent in the body in a form no key has (a number, an array, an empty string) is named as such, not
// answered as if no key had been sent at all.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { freshDir, post, removeDir, withCollector } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("collector: a body's writeKey of the wrong form", () => {
  it("is refused 401 bad_write_key naming the field and what it got", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        for (const [body, field, got] of [
          [{ writeKey: 123, userId: "u", event: "E" }, "/writeKey", "a number"],
          [{ writeKey: "", userId: "u", event: "E" }, "/writeKey", "an empty string"],
          [{ writeKey: ["k"], batch: [{ type: "track", userId: "u", event: "E" }] }, "/writeKey", "an array"],
          [{ batch: [{ type: "track", userId: "u", event: "E", writeKey: { k: 1 } }] }, "/batch/0/writeKey", "an object"],
        ] as const) {
          const route = "batch" in body ? "batch" : "track"
          const res = yield* post(`${url}/v1/${route}`, body, {})
          expect(res.status, field).toBe(401)
          expect(res.body, field).toMatchObject({ rule: "bad_write_key", field })
          expect(res.body["error"], field).toBe(`${field} must be a write key, a non-empty string (got ${got}); or send the key as the user name of HTTP Basic auth`)
        }
        // No key anywhere is still missing_write_key.
        const none = yield* post(`${url}/v1/track`, { userId: "u", event: "E" }, {})
        expect(none.body).toMatchObject({ rule: "missing_write_key" })
      })))
})
