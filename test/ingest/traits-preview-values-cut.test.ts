// POST /v1/traits/preview shows each value (in the sample and among the most common) cut at 200 characters, as an
// audience preview shows a value seen. Seen probing cdp serve: a "first" of properties.note over 7 profiles whose notes
// were 30,000 characters answered 420 KB, each note whole twice (sample and distribution); a sample of 1,000 such
// profiles would be 30 MB.
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { callApi, landBatch, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

it("a preview's values are cut at 200 characters, in the sample and in the distribution", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    const note = (who: string) => `${who}:${"n".repeat(30_000)}`
    yield* landBatch(url, ["ann", "bob"].map((who) => ({ type: "track", userId: who, messageId: `${who}-note`, event: "Note", properties: { note: note(who) } })),
      { identifier: "user_id:bob", events: 1 })
    for (const kind of ["first", "most_frequent"]) {
      const res = yield* callApi(url, "POST", "/v1/traits/preview", TEST_ADMIN_TOKEN, { tenant: "acme", definition: { name: "note", kind, of: "properties.note" }, sample: 10 })
      checkResponse("/v1/traits/preview", "POST", res.status, res.body)
      expect(res.status).toBe(200)
      const values = [...res.body["sample"].map((s: { value: string }) => s.value), ...res.body["distribution"]["top"].map((t: { value: string }) => t.value)]
      expect(values).toHaveLength(4)
      for (const v of values) {
        expect(v.length, kind).toBeLessThanOrEqual(200)
        expect(v, kind).toMatch(/^(ann|bob):n{150,}…$/)
      }
      expect(JSON.stringify(res.body).length, kind).toBeLessThan(5_000)
    }
  })), 60_000)
