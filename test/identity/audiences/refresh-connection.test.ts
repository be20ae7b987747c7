// cdp serve keeps audiences current beside the pipeline: every audience of a tenant evaluated again, as events land and
// at least each minute. The embedded engine runs one statement at a time per connection, and the pipeline lands every
// tenant's batches on its own: the refresher's queries ran there too, so a tenant with many heavy audiences held every
// other tenant's landing (seen on cdp serve: another tenant's one-message batch took 1.5-2.8 s for about 20 s a
// minute beside 21 heavy audiences). They run on a connection of their own.
import { Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { createAudience, keepAudiencesCurrent, refreshAudiences } from "../../../identity/audiences/index.ts"
import { Warehouse } from "../../../warehouse/warehouse.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { withConsent } from "../../consent/support.ts"
import { landPeople } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("the audience refresher beside the pipeline", () => {
  it("a full refresh neither waits for nor holds the pipeline's connection (beside a 3 s statement there)", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      for (let i = 0; i < 5; i++) {
        yield* createAudience("acme", { name: `Orders ${i}`, purpose: "EmailMarketing", condition: { event: "Order Completed", count: { op: ">=", value: 1 + (i % 2) } } }, "test")
      }
      // Members as they are now: the refresher's full refresh finds no change to store (no insert: only its reads).
      yield* refreshAudiences()
      const warehouse = yield* Warehouse
      const held = yield* Effect.forkChild(warehouse.query("SELECT sleep(3)"))
      yield* Effect.sleep("100 millis")
      // The refresher asks how many messages landed as it starts and as each step starts: a third ask means the first
      // step (a full refresh: the first always is) ended.
      let steps = 0
      const started = performance.now()
      const fiber = yield* Effect.forkChild(keepAudiencesCurrent({ emit: () => Effect.void, landed: () => ++steps && 0, tick: "20 millis", idle: "1 hour" }))
      while (steps < 3 && performance.now() - started < 10_000) yield* Effect.sleep("10 millis")
      const took = performance.now() - started
      yield* Fiber.interrupt(fiber)
      yield* Fiber.join(held)
      console.log(`the full refresh took ${Math.round(took)} ms beside SELECT sleep(3)`)
      expect(steps).toBeGreaterThanOrEqual(3)
      expect(took, `the refresh waited ${Math.round(took)} ms for the pipeline's statement`).toBeLessThan(1_500)
    })), 60_000)
})
