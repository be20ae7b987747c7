// GET /v1/identity/suggestions pages like every other list (ingest/pages.ts): ?limit= and an opaque ?cursor=, the
// answer's nextCursor; the pages together hold every suggestion once, best first, and a cursor the API did not give
// is 400 bad_cursor before the warehouse is asked anything.
import type { IncomingMessage } from "node:http"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { identityConfigOf } from "../../identity/index.ts"
import { identityRoute } from "../../ingest/identity-route.ts"
import type { QueryReply } from "../../ingest/query-route.ts"
import { Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { runCdp, startServe } from "../support/cli.ts"
import { freshDir, post, removeDir, withCollector } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

// Four people, each seen as two profiles (one name, one e-mail local part, two domains): four suggestions.
const PEOPLE = ["Ann Lee", "Bob Stone", "Cara Diaz", "Dan Moss"]

type Listed = { suggestions: Array<{ id: string; score: number }>; nextCursor: string | null; rule?: string; field?: string }

const routeOn = (warehouse: WarehouseShape) =>
  Effect.map(identityRoute({ warehouse, config: identityConfigOf(), reload: Effect.void }), (route) =>
    (query: string) => Effect.map(route({ method: "GET", url: `/v1/identity/suggestions?${query}` } as IncomingMessage),
      (reply: QueryReply) => ({ status: reply.status, body: reply.body as Listed })))

describe("GET /v1/identity/suggestions pages", () => {
  it("two pages together return every suggestion once, best first, the last with nextCursor null", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      for (const [i, name] of PEOPLE.entries()) {
        const local = name.toLowerCase().replace(" ", ".")
        for (const domain of ["x.example", "y.example"]) {
          const res = yield* post(`${url}/v1/identify`, { userId: `${local}@${domain}`, messageId: `m-${i}-${domain}`, traits: { name, email: `${local}@${domain}` } })
          expect(res.status).toBe(200)
        }
      }
      const list = yield* routeOn(yield* Warehouse)
      const all = yield* list("tenant=acme&limit=1000")
      expect(all.status).toBe(200)
      expect(all.body.suggestions).toHaveLength(4)
      expect(all.body.nextCursor).toBeNull()

      const first = yield* list("tenant=acme&limit=3")
      expect(first.body.suggestions).toHaveLength(3)
      expect(first.body.nextCursor).toEqual(expect.any(String))
      const second = yield* list(`tenant=acme&limit=3&cursor=${first.body.nextCursor}`)
      expect(second.status).toBe(200)
      expect(second.body.nextCursor).toBeNull()
      const paged = [...first.body.suggestions, ...second.body.suggestions].map((s) => s.id)
      expect(paged).toEqual(all.body.suggestions.map((s) => s.id))
      expect(new Set(paged).size).toBe(4)
    })), 60_000)

  it("a forged cursor or a bad limit is 400 naming the parameter, before the warehouse is asked", () =>
    Effect.runPromise(Effect.gen(function* () {
      // Any use of the warehouse fails the test: the refusal must come first.
      const untouchable = new Proxy({}, { get: (_, name) => { throw new Error(`the warehouse was used (${String(name)})`) } }) as WarehouseShape
      const list = yield* routeOn(untouchable)
      for (const cursor of ["not-a-cursor", Buffer.from(JSON.stringify(["x", 1])).toString("base64url"), Buffer.from("[1]").toString("base64url")]) {
        expect(yield* list(`tenant=acme&cursor=${cursor}`)).toMatchObject({ status: 400, body: { rule: "bad_cursor", field: "cursor" } })
      }
      expect(yield* list("tenant=acme&limit=1001")).toMatchObject({ status: 400, body: { rule: "bad_limit", field: "limit" } })
    })))

  it("cdp identity suggestions through a running server follows the pages: --limit past one page's 1,000 is answered", async () => {
    const data = join(dir, "data")
    const file = join(dir, "web.ndjson")
    writeFileSync(file, ["x.example", "y.example"].map((domain, i) =>
      JSON.stringify({ type: "identify", messageId: `m${i}`, userId: `ann@${domain}`, traits: { name: "Ann Lee", email: `ann.lee@${domain}` } })).join("\n"))
    expect(runCdp(["ingest", "--source", "segment", file, "--data-dir", data]).status).toBe(0)
    const serve = await startServe(["--data-dir", data])
    try {
      const r = runCdp(["identity", "suggestions", "--limit", "5000", "--format", "json", "--data-dir", data])
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout.trim().split("\n")).toHaveLength(1)
    } finally {
      await serve.stop()
    }
  }, 120_000)
})
