// What a refusal echoes of the sender's own text (a messageId, a key in a pointer) is bounded: a 100 KB messageId or
// key is shown as its start and "…", never sent back whole (the dead letter keeps the message whole).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { checked } from "../support/openapi.ts"
import { basicAuth, freshDir, query, removeDir, withCollector, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const big = "k".repeat(100_000)

const postText = (url: string, body: string) =>
  Effect.promise(async () => {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: basicAuth(WRITE_KEY) }, body })
    const text = await res.text()
    return { status: res.status, text, body: JSON.parse(text) as { rejected: ReadonlyArray<{ field: string; messageId?: string; message: string }> } }
  })

describe("collector: the sender's text in a refusal", () => {
  it("a 100 KB messageId is echoed as its first 256 characters and …", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      const res = yield* postText(`${url}/v1/batch`, JSON.stringify({ batch: [{ type: "track", event: "E", anonymousId: "a", messageId: big }] }))
      checked("/v1/batch", "POST", res)
      expect(res.status).toBe(400)
      expect(res.body.rejected[0]!.messageId).toBe(`${"k".repeat(256)}…`)
      expect(res.text.length).toBeLessThan(2_000)
      // The dead letter keeps it whole: nothing is lost.
      expect(yield* query("SELECT toUInt32(length(message_id)) AS n FROM dead_letters")).toEqual([{ n: 100_000 }])
    })))

  it("a 100 KB key is shown in field as the pointer's first 256 characters and …", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      const body = `{"batch":[{"type":"track","event":"E","anonymousId":"a","properties":{"${big}":1e400}},` +
        `{"type":"track","event":"E","anonymousId":"b","properties":{"${big}":1,"${big}":2}}]}`
      const res = yield* postText(`${url}/v1/batch`, body)
      checked("/v1/batch", "POST", res)
      expect(res.status).toBe(400)
      for (const r of res.body.rejected) {
        expect(r.field).toBe(`/properties/${"k".repeat(256 - "/properties/".length)}…`)
        expect(r.message.length).toBeLessThan(1_100)
      }
      expect(res.text.length).toBeLessThan(4_000)
      // The whole request refused for a key named twice in the batch's own object: the same bound.
      const whole = yield* postText(`${url}/v1/batch`, `{"${big}":1,"${big}":2,"batch":[]}`)
      expect(whole.status).toBe(400)
      expect(whole.text.length).toBeLessThan(2_000)
    })))

  it("a refusal never cuts a character in two: its dead letter is kept and its words hold no half of an emoji", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      // Each value is cut where an emoji (two UTF-16 units) straddles the cut.
      const res = yield* postText(`${url}/v1/batch`, JSON.stringify({ batch: [
        { type: "track", event: "E", anonymousId: "a", messageId: "tcf", context: { consent: { tcf: `${"x".repeat(39)}😀y` } } },
        { type: "track", event: "E", anonymousId: "a", messageId: "category", context: { consent: { categoryPreferences: { [`${"c".repeat(79)}😀`]: 1 } } } },
        // A pointer of 62 characters, shown as its first 60 in the words.
        { type: "track", event: "E", anonymousId: "a", messageId: "pointer", properties: { [`${"k".repeat(47)}😀z`]: "HUGE" } },
      ] }).replace('"HUGE"', "1e400"))
      expect(res.status).toBe(400)
      for (const r of res.body.rejected) expect(r.message, r.field).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|\\ud83d/)
      expect(res.body.rejected.map((r) => r.message)).toEqual([
        expect.stringContaining(`"${"x".repeat(39)}…"`),
        expect.stringContaining(`categoryPreferences.${"c".repeat(79)}… must be true or false`),
        `/properties/${"k".repeat(47)}…: 1e400 is beyond the largest number that can be stored (about 1.8e308)`,
      ])
      // Before: the category's and the pointer's dead letters (half an emoji in their reasons) were lost on the way to
      // the warehouse.
      expect(yield* query("SELECT message_id FROM dead_letters ORDER BY message_id"))
        .toEqual([{ message_id: "category" }, { message_id: "pointer" }, { message_id: "tcf" }])
    })))
})
