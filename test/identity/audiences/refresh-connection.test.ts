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
import { HELD_SECONDS, holding, holdSql } from "../../support/held-connection.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("the audience refresher beside the pipeline", () => {
  it("a full refresh neither waits for nor holds the pipeline's connection (beside a long statement there)", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      for (let i = 0; i < 5; i++) {
        yield* createAudience("acme", { name: `Orders ${i}`, purpose: "EmailMarketing", condition: { event: "Order Completed", count: { op: ">=", value: 1 + (i % 2) } } }, "test")
      }
      // Members as they are now: the refresher's full refresh finds no change to store (no insert: only its reads).
      yield* refreshAudiences()
      const warehouse = yield* Warehouse
      const held = yield* holding(warehouse.query(holdSql()))
      // The refresher asks how many messages landed as it starts and as each step starts: a third ask means the first
      // step (a full refresh: the first always is) ended.
      let steps = 0
      const started = performance.now()
      const fiber = yield* Effect.forkChild(keepAudiencesCurrent({ emit: () => Effect.void, landed: () => ++steps && 0, tick: "20 millis", idle: "1 hour" }))
      while (steps < 3 && held.stillHeld()) yield* Effect.sleep("10 millis")
      // Before, it waited for the statement's end: its first step ended after it.
      const refreshedWhileHeld = steps >= 3 && held.stillHeld()
      const took = performance.now() - started
      yield* Fiber.interrupt(fiber)
      yield* held.ended
      console.log(`the full refresh took ${Math.round(took)} ms beside a ${HELD_SECONDS} s statement on the pipeline's connection`)
      expect(refreshedWhileHeld, `the refresh's first step ended after the pipeline's statement (${steps} steps begun)`).toBe(true)
    })), 60_000)
})
