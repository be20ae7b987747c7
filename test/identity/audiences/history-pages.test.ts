// An audience's history answers a page at a time (?limit=, ?cursor=), and a page ends before its versions pass about
// 1 MB of JSON. Seen probing cdp serve: each version holds its condition (up to a body's 256 KB) and what it changed
// (the condition before and after), and the history answered every version at once: 40 edits of a 227 KB condition,
// two seconds of a marketer's token, made GET /v1/audiences/{id}/history answer 27.5 MB, and nothing bounded it.
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { checkResponse } from "../../support/openapi.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { withConsent } from "../../consent/support.ts"
import { serveAudiences } from "./support.ts"

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

const TEMPLATE = "/v1/audiences/{id}/history"
const call = (base: string, method: string, path: string, body?: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${base}${path}`, {
      method, ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    })
    const answer = (await res.json()) as Record<string, any>
    checkResponse(path.includes("/history") ? TEMPLATE : path.split("?")[0]!.replace(/aud_[^/?]+/, "{id}"), method, res.status, answer)
    return { status: res.status, body: answer, bytes: JSON.stringify(answer).length }
  })

/** An "or" of 50 trait leaves, each naming 5 values of 900 characters: about 227 KB. */
const wide = (c: string) => ({ or: Array.from({ length: 50 }, (_, i) => ({ trait: `t${i}`, in: Array.from({ length: 5 }, (_, k) => `${c.repeat(900)}${k}`) })) })

/** Every version, page after page; the pages' sizes. */
const allPages = (base: string, id: string, limit?: number) =>
  Effect.gen(function* () {
    const versions: Array<{ version: number; changes: Array<string> }> = []
    const sizes: Array<number> = []
    let cursor: string | null = null
    do {
      const query = new URLSearchParams({ tenant: "acme", ...(limit === undefined ? {} : { limit: String(limit) }), ...(cursor === null ? {} : { cursor }) })
      const page = yield* call(base, "GET", `/v1/audiences/${id}/history?${query}`)
      expect(page.status, JSON.stringify(page.body).slice(0, 300)).toBe(200)
      versions.push(...page.body["versions"])
      sizes.push(page.bytes)
      cursor = page.body["nextCursor"]
    } while (cursor !== null)
    return { versions, sizes }
  })

describe("an audience's history", () => {
  it("answers a page at a time, each version once, what it changed told against the version before", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
      const made = yield* call(base, "POST", "/v1/audiences", { tenant: "acme", name: "Pro", purpose: "EmailMarketing", condition: { trait: "plan", equals: "pro" } })
      const id = made.body["audience"].id as string
      for (const name of ["Pro 2", "Pro 3", "Pro 4"]) expect((yield* call(base, "PATCH", `/v1/audiences/${id}`, { tenant: "acme", name })).status).toBe(200)

      const first = yield* call(base, "GET", `/v1/audiences/${id}/history?tenant=acme&limit=2`)
      expect(first.body["versions"].map((v: { version: number }) => v.version)).toEqual([1, 2])
      expect(first.body["nextCursor"]).toEqual(expect.any(String))
      const { versions } = yield* allPages(base, id, 2)
      expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4])
      expect(versions.map((v) => v.changes)).toEqual([["created"], ['name: "Pro" -> "Pro 2"'], ['name: "Pro 2" -> "Pro 3"'], ['name: "Pro 3" -> "Pro 4"']])
      // Without ?limit= a short history is one page, as before.
      expect((yield* call(base, "GET", `/v1/audiences/${id}/history?tenant=acme`)).body).toMatchObject({ nextCursor: null })

      // A cursor pages only its audience's history; a limit out of range is named.
      const other = yield* call(base, "POST", "/v1/audiences", { tenant: "acme", name: "Other", purpose: "EmailMarketing", condition: { trait: "plan", equals: "x" } })
      const foreign = yield* call(base, "GET", `/v1/audiences/${other.body["audience"].id}/history?tenant=acme&cursor=${first.body["nextCursor"]}`)
      expect(foreign).toMatchObject({ status: 400, body: { rule: "bad_cursor", field: "cursor" } })
      for (const limit of ["0", "1001", "x"]) {
        expect((yield* call(base, "GET", `/v1/audiences/${id}/history?tenant=acme&limit=${limit}`)).body, limit).toMatchObject({ rule: "bad_limit", field: "limit" })
      }
    })), 120_000)

  it("ends a page before about 1 MB of versions, so wide conditions edited often come a page at a time", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
      const made = yield* call(base, "POST", "/v1/audiences", { tenant: "acme", name: "Wide", purpose: "EmailMarketing", condition: wide("c") })
      const id = made.body["audience"].id as string
      for (let i = 0; i < 6; i++) expect((yield* call(base, "PATCH", `/v1/audiences/${id}`, { tenant: "acme", condition: wide(i % 2 === 0 ? "a" : "b") })).status).toBe(200)

      const { versions, sizes } = yield* allPages(base, id)
      expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7])
      expect(sizes.length).toBeGreaterThan(1)
      // A version of an edited wide condition is about 690 KB (the condition, and it before and after): one a page.
      for (const size of sizes) expect(size).toBeLessThan(1.5 * 1024 * 1024)
    })), 120_000)
})
