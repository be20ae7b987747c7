// GET /v1/audiences ends a page before its audiences pass about 1 MB of JSON, as an audience's history does: each
// audience is listed with its condition, up to a body's 256 KB, so the default page of 100 could answer 25 MB and one
// of ?limit=1000 (CDP_MAX_AUDIENCES' default) 250 MB. Following nextCursor still gives every audience once.
import { Effect } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { checkResponse } from "../../support/openapi.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { withConsent } from "../../consent/support.ts"
import { serveAudiences } from "./support.ts"

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

const call = (base: string, method: string, path: string, body?: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${base}${path}`, {
      method, ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    })
    const answer = (await res.json()) as Record<string, any>
    checkResponse("/v1/audiences", method, res.status, answer)
    return { status: res.status, body: answer, bytes: JSON.stringify(answer).length }
  })

/** An "or" of 50 trait leaves, each naming 5 values of 900 characters: about 227 KB. */
const wide = (c: string) => ({ or: Array.from({ length: 50 }, (_, i) => ({ trait: `t${i}`, in: Array.from({ length: 5 }, (_, k) => `${c.repeat(900)}${k}`) })) })

it("a page of audiences ends before about 1 MB of them; the pages hold each audience once", () =>
  withConsent(dir, Effect.gen(function* () {
    const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
    const made: Array<string> = []
    for (const c of ["a", "b", "c", "d", "e", "f"]) {
      const res = yield* call(base, "POST", "/v1/audiences", { tenant: "acme", name: `Wide ${c}`, purpose: "EmailMarketing", condition: wide(c) })
      expect(res.status).toBe(201)
      made.push(res.body["audience"].id)
    }
    const seen: Array<string> = []
    const sizes: Array<number> = []
    let cursor: string | null = null
    do {
      const page: { status: number; body: Record<string, any>; bytes: number } = yield* call(base, "GET", `/v1/audiences?tenant=acme&limit=1000${cursor === null ? "" : `&cursor=${cursor}`}`)
      expect(page.status).toBe(200)
      seen.push(...page.body["audiences"].map((a: { id: string }) => a.id))
      sizes.push(page.bytes)
      cursor = page.body["nextCursor"]
    } while (cursor !== null)
    expect(seen).toEqual([...made].sort())
    // Six audiences of about 227 KB: more than one page, none past about 1 MB.
    expect(sizes.length).toBeGreaterThan(1)
    for (const size of sizes) expect(size).toBeLessThan(1.1 * 1024 * 1024)
  })), 120_000)
