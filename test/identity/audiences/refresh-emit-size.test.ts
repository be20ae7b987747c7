// An audience's entries and exits are handed to the pipeline as Audience Entered/Exited events. The in-process bus
// handles what one hand-over brings as one batch, and an audience's first fill handed over whole (11,000 members) held
// every other tenant's messages until all of it had landed (seen: a one-message batch of another tenant waited 3.9 s).
// They are handed over a bounded part at a time, each waited for before the next.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { AUDIENCE_SOURCE, createAudience, refreshAudiences } from "../../../identity/audiences/index.ts"
import { Pipeline } from "../../../ingest/pipeline.ts"
import { freshDir, query, removeDir } from "../../support/pipeline.ts"
import { submit, web, withConsent } from "../../consent/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const PEOPLE = 2_500

describe("an audience's first fill", () => {
  it("is handed to the pipeline at most 1,000 events at a time, each event once, and all of them land", () =>
    withConsent(dir, Effect.gen(function* () {
      for (let i = 0; i < PEOPLE; i += 1_250) {
        yield* submit(Array.from({ length: 1_250 }, (_, k) => web(`o${i + k}`, "2024-10-20T10:00:00.000Z", { userId: `u${i + k}`, event: "Order Completed" })))
      }
      yield* createAudience("acme", { name: "Orders", purpose: "EmailMarketing", condition: { event: "Order Completed", count: { op: ">=", value: 1 } } }, "test")
      const pipeline = yield* Pipeline
      const handedOver: Array<ReadonlyArray<string>> = []
      const summary = yield* refreshAudiences({
        emit: (events) => {
          handedOver.push(events.map((e) => e.messageId))
          return pipeline.submit(events, [], { archive: false })
        },
      })
      expect(summary.entered).toBe(PEOPLE)
      expect(Math.max(...handedOver.map((ids) => ids.length)), "the largest hand-over").toBeLessThanOrEqual(1_000)
      expect(new Set(handedOver.flat()).size).toBe(PEOPLE)
      expect(handedOver.flat()).toHaveLength(PEOPLE)
      const [landed] = yield* query<{ n: string }>("SELECT count() AS n FROM events WHERE tenant = 'acme' AND source = {s:String}", { s: AUDIENCE_SOURCE })
      expect(Number(landed!.n)).toBe(PEOPLE)
    })), 180_000)
})
