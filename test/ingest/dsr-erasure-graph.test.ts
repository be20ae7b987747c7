// An erasure through cdp serve takes the person out of the running identity graph: it forgets their identifiers
// before their rows go and loads their tenant's graph again after (test/identity/erasure-graph: no other tenant's
// batch waits for that load; before, every tenant's graph was loaded again under the stage's one lock). The receipt
// says both, and the snapshot written then holds none of them.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, landBatch, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { loadLatestSnapshot } from "../../warehouse/identity-snapshots.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("an erasure through the API in the running identity graph", () => {
  it("forgets the person, loads their tenant's graph again, says so in the receipt, and the snapshot holds none of them", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landBatch(url, [
        { type: "identify", userId: "pa", anonymousId: "browser-pa", messageId: "m-pa", traits: { email: "pa@acme.example" } },
        { type: "identify", userId: "pb", messageId: "m-pb", traits: { email: "pb@acme.example" } },
      ], { identifier: "email:pb@acme.example", events: 1 })
      const r = yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "erasure", identifier: "email:pa@acme.example", tenant: "acme" })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      const request = r.body["request"] as { status: string; done: Array<{ where: string; what: string; count: number }> }
      expect(request.status).toBe("completed")
      const graph = request.done.filter((d) => d.where === "identity graph")
      expect(graph).toEqual([
        { where: "identity graph", what: "identifiers forgotten", count: 3 },
        { where: "identity graph", what: "tenant's graph loaded again without them", count: 1 },
      ])
      const snapshot = yield* loadLatestSnapshot()
      const text = Buffer.from(snapshot!.bytes).toString("latin1")
      expect(text).toContain("pb@acme.example")
      for (const value of ["pa@acme.example", "browser-pa", "\u0000forgotten"]) expect(text.includes(value), value).toBe(false)
      // The tenant's others are still there.
      const pb = yield* callApi(url, "GET", "/v1/profiles/email:pb@acme.example?tenant=acme", TEST_ADMIN_TOKEN)
      expect(pb.status).toBe(200)
    })), 120_000)
})
