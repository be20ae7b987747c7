// Identity work in slices (identity/slices.ts) gives what the same work gives at once.
import fc from "fast-check"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { inSlices, mapSteps, runSteps, sortSteps } from "../../identity/slices.ts"

describe("identity work in slices", () => {
  it("sorting in steps orders as Array.prototype.sort does, equal items in their order (property)", () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.nat()), { maxLength: 9_000 }), (pairs) => {
      const byKey = (x: readonly [number, number], y: readonly [number, number]) => x[0] - y[0]
      const native = [...pairs].sort(byKey)
      const stepped = runSteps(sortSteps([...pairs], byKey))
      expect(stepped).toEqual(native)
    }), { numRuns: 40 })
  })

  it("run in slices from an Effect, steps give what they give at once", async () => {
    const items = Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 50_000)
    const atOnce = runSteps(sortSteps(runSteps(mapSteps(items, (x) => x * 2)), (x, y) => x - y))
    const sliced = await Effect.runPromise(inSlices(sortSteps(runSteps(mapSteps(items, (x) => x * 2)), (x, y) => x - y)))
    expect(sliced).toEqual(atOnce)
    expect(atOnce).toEqual(items.map((x) => x * 2).sort((x, y) => x - y))
  })
})
