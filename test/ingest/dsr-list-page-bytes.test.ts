// GET /v1/dsr ends a page before about 1 MB of JSON, whatever ?limit= (up to 1000) says, as the audience lists do: a
// rectification's details list every trait it set (a body of up to 64 KB of names), so a page of 100 could answer many
// MB. Following the cursors still gives each request once, oldest first.
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { identifierKey, Keys } from "../../consent/keys.ts"
import { storeRequest } from "../../warehouse/dsr.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const REQUESTS = 24

it("a page of requests ends before about 1 MB of JSON and the cursor goes on from the last one shown", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    const keys = yield* Keys
    // Each rectification names 2,000 traits of 30 characters: about 64 KB of details.
    const traits = Array.from({ length: 2000 }, (_, i) => `trait_${String(i).padStart(24, "0")}`)
    const t0 = Date.UTC(2026, 0, 1)
    for (let i = 0; i < REQUESTS; i++) {
      const at = t0 + i * 1000
      yield* storeRequest({
        tenant: "acme", requestId: `dsr_wide${String(i).padStart(3, "0")}`, type: "rectification", status: "completed", subjectKind: "email",
        subjectKey: identifierKey(keys, "acme", "email", `p${i}@acme.example`), subjectKeys: [], receivedAtMs: at, dueAtMs: at,
        startedAtMs: at, finishedAtMs: at, done: [], details: { traits }, error: "", receipt: null,
      })
    }
    const ids: Array<string> = []
    const pages: Array<number> = []
    let cursor: string | null = ""
    while (cursor !== null) {
      const r = yield* callApi(url, "GET", `/v1/dsr?tenant=acme&limit=1000&cursor=${cursor}`, TEST_ADMIN_TOKEN)
      expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200)
      checkResponse("/v1/dsr", "GET", r.status, r.body)
      const requests = r.body["requests"] as Array<{ id: string }>
      expect(requests.length).toBeGreaterThan(0)
      ids.push(...requests.map((q) => q.id))
      pages.push(JSON.stringify(r.body).length)
      cursor = r.body["nextCursor"] as string | null
    }
    expect(ids).toEqual(Array.from({ length: REQUESTS }, (_, i) => `dsr_wide${String(i).padStart(3, "0")}`))
    expect(pages.length, `page sizes ${pages.join(", ")}`).toBeGreaterThan(1)
    for (const size of pages) expect(size).toBeLessThan(1.1 * 1024 * 1024)
  })), 120_000)
