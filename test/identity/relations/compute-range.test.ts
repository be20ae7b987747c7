// A run's date is kept in a Date column (1970-01-01 to 2149-06-06): a compute for a day outside it is refused, not
// stored as the nearest day it holds (2299-12-31 landed as 2149-06-06 and became every report's default end).
import { Effect, Layer } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { computeRelations, DEFAULT_RELATIONS_CONFIG } from "../../../identity/relations/index.ts"
import { readRuns } from "../../../warehouse/relations.ts"
import { Warehouse } from "../../../warehouse/warehouse.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("relations compute", () => {
  it("refuses a day a run cannot be kept for, naming the day and the range, and stores no run", async () => {
    const result = await Effect.runPromise(Effect.gen(function* () {
      const failures = []
      for (const asOf of ["1900-01-01", "1969-12-31", "2149-06-07", "2299-12-31"]) {
        failures.push(yield* Effect.flip(computeRelations({ tenant: "acme", asOf, config: DEFAULT_RELATIONS_CONFIG })))
      }
      const edge = yield* computeRelations({ tenant: "acme", asOf: "2149-06-06", config: DEFAULT_RELATIONS_CONFIG })
      return { failures, edge, runs: yield* readRuns("acme") }
    }).pipe(Effect.provide(Layer.fresh(Warehouse.embedded(`${dir}/clickhouse`)))))
    for (const [i, asOf] of ["1900-01-01", "1969-12-31", "2149-06-07", "2299-12-31"].entries()) {
      expect(result.failures[i]!._tag).toBe("PeriodInvalid")
      expect(result.failures[i]!.message).toBe(`asOf ${asOf} is outside the days relationship scores are kept for (1970-01-01 to 2149-06-06)`)
    }
    expect(result.edge.asOf).toBe("2149-06-06")
    expect(result.runs.map((r) => r.asOf)).toEqual(["2149-06-06"])
  })
})
