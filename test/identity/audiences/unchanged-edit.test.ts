// An audience edit that changes nothing (the same name, purpose and condition, its keys in any order) saves no
// version: the history stayed clean of "saved unchanged" versions, and the answer says `unchanged`.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { audienceHistory, createAudience, editAudience } from "../../../identity/audiences/index.ts"
import { audienceRoute } from "../../../ingest/audience-route.ts"
import { preReadBodies } from "../../../ingest/query-route.ts"
import { Warehouse } from "../../../warehouse/warehouse.ts"
import { withConsent } from "../../consent/support.ts"
import { checkResponse } from "../../support/openapi.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const CONDITION = { and: [{ trait: "plan", equals: "pro" }, { event: "Order Completed", withinDays: 30 }] }

describe("an audience edit that changes nothing", () => {
  it("saves no version and answers unchanged; one that changes something still saves one", () =>
    withConsent(dir, Effect.gen(function* () {
      const a = yield* createAudience("acme", { name: "Pro buyers", purpose: "Analytics", condition: CONDITION }, "test")
      const same = [
        { name: "Pro buyers" },
        { name: " Pro buyers ", purpose: "Analytics" },
        { condition: { and: [{ equals: "pro", trait: "plan" }, { withinDays: 30, event: "Order Completed" }] } },
      ]
      for (const edit of same) {
        const r = yield* editAudience("acme", a.id, edit, "test", "no change really")
        expect([r.version, "unchanged" in r && r.unchanged], JSON.stringify(edit)).toEqual([1, true])
      }
      expect((yield* audienceHistory("acme", a.id)).map((v) => v.changes)).toEqual([["created"]])

      const route = audienceRoute({ warehouse: yield* Warehouse })
      const req = { method: "PATCH", url: `/v1/audiences/${a.id}`, headers: {} } as IncomingMessage
      preReadBodies.set(req, JSON.stringify({ tenant: "acme", name: "Pro buyers", purpose: "Analytics" }))
      const reply = yield* route(req, { tokenId: "tok_m", tenant: undefined })
      checkResponse("/v1/audiences/{id}", "PATCH", reply.status, reply.body)
      expect(reply).toMatchObject({ status: 200, body: { success: true, unchanged: true, audience: { id: a.id, version: 1 } } })

      const renamed = yield* editAudience("acme", a.id, { name: "Pro customers" }, "test")
      expect([renamed.version, "unchanged" in renamed]).toEqual([2, false])
      expect((yield* audienceHistory("acme", a.id)).map((v) => v.changes)).toEqual([["created"], ['name: "Pro buyers" -> "Pro customers"']])
    })), 120_000)
})
