// Two erasures of one tenant sent at once both complete and both people are gone. Found probing cdp serve: two
// erasures posted together (two people whose messages came in one batch, so one archive object) both ended failed,
// one with "ObjectStoreError: ENOENT: no such file or directory, rename '.../archive/acme/segment/...ndjson.gz.<pid>.<ms>.tmp'",
// the other with "ErasureIncomplete: the erasure left data of the subject in: archive (1 records)": each rewrote the
// archive object from its own reading, so the later write put back the person the earlier one had removed.
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, landBatch, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** The text of every archived batch of tenant acme. */
const archived = (): string => {
  const root = join(dir, "objects", "archive", "acme")
  let files: Array<string>
  try {
    files = readdirSync(root, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ndjson.gz"))
  } catch {
    return ""
  }
  return files.map((f) => gunzipSync(readFileSync(join(root, f))).toString("utf8")).join("\n")
}

const erase = (url: string, email: string) =>
  callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "erasure", identifier: `email:${email}`, tenant: "acme" })

describe("erasures of one tenant at once", () => {
  it("two people of one archived batch erased together: both requests complete and neither is left in the archive", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landBatch(url, [
        { type: "identify", userId: "pa", messageId: "m-pa", traits: { email: "pa@acme.example" } },
        { type: "identify", userId: "pb", messageId: "m-pb", traits: { email: "pb@acme.example" } },
        { type: "identify", userId: "pc", messageId: "m-pc", traits: { email: "pc@acme.example" } },
      ], { identifier: "email:pb@acme.example", events: 1 })
      for (let i = 0; i < 200 && !archived().includes("pb@acme.example"); i++) yield* Effect.sleep("50 millis")
      expect(archived()).toContain("pa@acme.example")

      const [a, b] = yield* Effect.all([erase(url, "pa@acme.example"), erase(url, "pb@acme.example")], { concurrency: "unbounded" })
      for (const r of [a, b]) {
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        expect(r.body["request"], JSON.stringify(r.body)).toMatchObject({ status: "completed", error: "" })
      }
      const left = archived()
      expect(left).not.toContain("pa@acme.example")
      expect(left).not.toContain("pb@acme.example")
      expect(left).toContain("pc@acme.example")
    })), 180_000)

  it("the same person erased twice at once: both requests complete", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landBatch(url, [{ type: "identify", userId: "pa", messageId: "m-pa", traits: { email: "pa@acme.example" } }],
        { identifier: "email:pa@acme.example", events: 1 })
      for (let i = 0; i < 200 && !archived().includes("pa@acme.example"); i++) yield* Effect.sleep("50 millis")
      const answers = yield* Effect.all([erase(url, "pa@acme.example"), erase(url, "pa@acme.example")], { concurrency: "unbounded" })
      for (const r of answers) {
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        expect(r.body["request"], JSON.stringify(r.body)).toMatchObject({ status: "completed", error: "" })
      }
      expect(archived()).not.toContain("pa@acme.example")
    })), 180_000)
})
