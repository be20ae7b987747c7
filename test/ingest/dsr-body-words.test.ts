// POST /v1/dsr's refusals name the body's fields, in the words of the body that was sent: found by probing
// `cdp serve`, where {"type": "access", "set": {...}} was answered "--set is for rectification only, not access" and
// a rectification without "set" "--set trait=value (repeatable)", flags of a command the caller never ran.
import type { IncomingMessage } from "node:http"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { makeDsrRoute } from "../../ingest/dsr-route.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { preReadBodies } from "../../ingest/query-route.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("POST /v1/dsr refusing a body", () => {
  it("names the body field (\"set\", \"lift\") it refuses, as the body spells it", async () => {
    await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const route = yield* makeDsrRoute({ dataDir: dir })
      const post = (body: Record<string, unknown>) => {
        const req = { method: "POST", url: "/v1/dsr", headers: {} } as IncomingMessage
        preReadBodies.set(req, JSON.stringify({ identifier: "user_id:u1", tenant: "acme", ...body }))
        return route(req)
      }
      for (const [body, field, words] of [
        [{ type: "access", set: { plan: "pro" } }, "/set", '"set" is for rectification only, not access'],
        [{ type: "rectification" }, "/set", 'a rectification needs the corrected values in "set"'],
        [{ type: "objection", lift: true }, "/lift", '"lift" is for restriction only, not objection'],
      ] as const) {
        const reply = yield* post(body)
        expect(reply.status, JSON.stringify(body)).toBe(400)
        expect(reply.body, JSON.stringify(body)).toMatchObject({ rule: "bad_request", field })
        const error = String((reply.body as { error: string }).error)
        expect(error).toContain(words)
        expect(error.startsWith("--"), error).toBe(false)
      }
    }).pipe(Effect.provide(ObjectStore.local(join(dir, "objects")))))
  }, 60_000)
})
