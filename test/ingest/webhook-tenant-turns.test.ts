// A webhook post of many items is handed to the pipeline a tenant's turn at a time (ingest/bus.ts TENANT_TURN), so
// another tenant's message waits for one turn of it, not for all 10,000 of its items. Before, the post was one
// publish call, which the in-process bus hands on whole: seen on cdp serve, globex's one-message track took 6.3 s to
// answer (65-350 ms otherwise) while acme's 10,000-post social webhook was handled.
import { Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { TENANT_TURN } from "../../ingest/bus.ts"
import { freshDir, post, query, removeDir, withCollector } from "../support/pipeline.ts"
import { acmeLandedWhenGlobexIsAnswered } from "../support/tenant-turns.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ITEMS = 4 * TENANT_TURN
const sendgridEvents = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ email: `p${from + i}@acme.example`, event: "open", sg_event_id: `sg${from + i}`, timestamp: 1_725_000_000 + from + i }))

describe("webhooks: tenants take turns", () => {
  it("another tenant's message lands after one turn of a large webhook post, and the post lands whole", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        // Two bad items among the good: their dead letters are handed on with the rest.
        const items: Array<unknown> = [...sendgridEvents(0, ITEMS - 2), { event: "open", sg_event_id: "no-email", timestamp: 1_725_000_000 }, { email: "x@acme.example" }]
        const acme = yield* Effect.forkChild(post(`${url}/v1/webhooks/sendgrid`, items))
        // acme's post is published (in the pipeline) before globex sends. Before: 10,000 landed (globex's message waited
        // for acme's whole post).
        expect(yield* acmeLandedWhenGlobexIsAnswered(url)).toBeLessThan(ITEMS - 2)
        const answer = yield* Fiber.join(acme)
        expect(answer.status).toBe(400)
        expect(answer.body).toMatchObject({ accepted: ITEMS - 2, rejected: [{ field: "/email" }, { field: "/timestamp" }] })
        expect(yield* query("SELECT count() AS n, uniqExact(message_id) AS ids FROM events WHERE tenant = 'acme'"))
          .toEqual([{ n: String(ITEMS - 2), ids: String(ITEMS - 2) }])
        expect(yield* query("SELECT count() AS n FROM dead_letters WHERE tenant = 'acme'")).toEqual([{ n: "2" }])
      })), 120_000)
})
