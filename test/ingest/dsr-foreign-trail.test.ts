// GET /v1/dsr/{id} with a token bound to a tenant looks the request up by that tenant and id: another tenant's request
// is answered 404 as an unknown id is (5008515), and now also costs what an unknown id costs. Before, the request was
// read whole and its audit trail read from the object store before the 404, a difference in time that could tell a
// bound token the id exists. Checked on what is read (the object store's reads), not on time.
import { join } from "node:path"
import type { IncomingMessage } from "node:http"
import { Effect, Layer } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { makeDsrRoute } from "../../ingest/dsr-route.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { preReadBodies } from "../../ingest/query-route.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("GET /v1/dsr/{id} with a token bound to a tenant", () => {
  it("reads nothing of another tenant's request (not its audit trail) and answers it as an unknown id", async () => {
    const reads: Array<string> = []
    // The real local store, its reads written down.
    const recording = Layer.effect(ObjectStore, Effect.gen(function* () {
      const store = yield* ObjectStore
      return { ...store, get: (key: string) => Effect.suspend(() => { reads.push(key); return store.get(key) }) }
    })).pipe(Layer.provide(ObjectStore.local(join(dir, "objects"))))
    await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const route = yield* makeDsrRoute({ dataDir: dir })
      const post = { method: "POST", url: "/v1/dsr", headers: {} } as IncomingMessage
      preReadBodies.set(post, JSON.stringify({ type: "access", identifier: "email:ann@globex.example", tenant: "globex" }))
      const made = yield* route(post)
      expect(made.status, JSON.stringify(made.body)).toBe(201)
      const id = (made.body as { request: { id: string } }).request.id
      const unknown = "dsr_AAAAAAAAAAAAAAAAAAAAAA"
      const get = (requestId: string, tenant: string) => Effect.gen(function* () {
        reads.length = 0
        const reply = yield* route({ method: "GET", url: `/v1/dsr/${requestId}`, headers: {} } as IncomingMessage, { tenant })
        return { reply, reads: [...reads] }
      })

      // Its own tenant's token reads the request's trail (the recording sees the store's reads).
      const own = yield* get(id, "globex")
      expect(own.reply.status).toBe(200)
      expect(own.reads.some((k) => k.includes(id)), own.reads.join(", ")).toBe(true)

      const foreign = yield* get(id, "acme")
      const none = yield* get(unknown, "acme")
      expect(foreign.reply.status).toBe(404)
      expect(JSON.stringify(foreign.reply.body).replaceAll(id, unknown)).toBe(JSON.stringify(none.reply.body))
      expect(foreign.reads, "what the other tenant's id read").toEqual([])
      expect(none.reads).toEqual([])
    }).pipe(Effect.provide(recording)))
  }, 60_000)
})
