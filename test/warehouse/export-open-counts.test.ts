// A destination's status counts its open dead letters and pending erasures (openCounts) instead of reading them all:
// the counts are those of the lists (openDeadLetters, pendingErasures), each item's latest version deciding whether it
// is still open, and another destination's or tenant's are not counted.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { openCounts, openDeadLetters, pendingErasures, recordDeadLetters, recordErasureAttempts } from "../../warehouse/exports.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const letter = (i: number) => ({ batchId: `b${i % 3}`, profileId: `p${i}`, operation: "upsert", reason: "HTTP 500", attempts: 3 })
const erasure = (i: number, done: boolean) => ({ remoteId: `r${i}`, requestId: "dsr_1", attempts: 1, done, error: "" })

describe("a destination's open counts", () => {
  it("are the lists' lengths: replayed letters and done erasures are not open, other destinations and tenants not counted", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      yield* recordDeadLetters("acme", "hook", Array.from({ length: 10 }, (_, i) => letter(i)))
      yield* recordDeadLetters("acme", "hook", [letter(0), letter(1)], true)
      yield* recordDeadLetters("acme", "other", [letter(20)])
      yield* recordDeadLetters("globex", "hook", [letter(30)])
      yield* recordErasureAttempts("acme", "hook", Array.from({ length: 4 }, (_, i) => erasure(i, false)))
      yield* recordErasureAttempts("acme", "hook", [erasure(3, true)])
      yield* recordErasureAttempts("globex", "hook", [erasure(9, false)])
      const counts = yield* openCounts("acme", "hook")
      expect(counts).toEqual({ deadLetters: 8, erasuresPending: 3 })
      expect(counts.deadLetters).toBe((yield* openDeadLetters("acme", "hook")).length)
      expect(counts.erasuresPending).toBe((yield* pendingErasures("acme", "hook")).length)
      expect(yield* openCounts("acme", "nothing")).toEqual({ deadLetters: 0, erasuresPending: 0 })
    })), 60_000)
})
