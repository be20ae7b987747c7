// The per-tenant cap on active tokens (CDP_MAX_TOKENS) holds when requests come at once. Found probing cdp serve: the
// route counted a tenant's active tokens, then created the token, with a warehouse write between, so ten POST
// /v1/tokens for one tenant sent together all passed the count and a tenant capped at 3 held 10.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("the per-tenant token cap", () => {
  it("holds for tokens created at once: the cap's worth are made, the others refused 409; another tenant's are not held back", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const create = (tenant: string, i: number) =>
        callApi(url, "POST", "/v1/tokens", TEST_ADMIN_TOKEN, { role: "marketer", tenant, name: `t${i}` })
      const answers = yield* Effect.all([
        ...Array.from({ length: 10 }, (_, i) => create("acme", i)),
        ...Array.from({ length: 2 }, (_, i) => create("globex", i)),
      ], { concurrency: "unbounded" })
      const acme = answers.slice(0, 10).map((r) => r.status)
      expect(acme.filter((s) => s === 201)).toHaveLength(3)
      expect(acme.filter((s) => s === 409)).toHaveLength(7)
      expect(answers.slice(10).map((r) => r.status)).toEqual([201, 201])
      const listed = yield* callApi(url, "GET", "/v1/tokens?tenant=acme", TEST_ADMIN_TOKEN)
      expect((listed.body["tokens"] as Array<{ status: string }>).filter((t) => t.status === "active")).toHaveLength(3)
    }), { maxTokens: 3 }), 60_000)
})
