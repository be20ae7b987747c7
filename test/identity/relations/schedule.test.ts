// `cdp serve`'s scheduled relationship computes (CDP_RELATIONS_EVERY, keepRelationsCurrent) and the one-compute-per-
// tenant rule every compute goes through (computeRelations), on the embedded engine.
import { Effect, Exit, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { computeRelations, dayOf, DEFAULT_RELATIONS_CONFIG, keepRelationsCurrent } from "../../../identity/relations/index.ts"
import { Pipeline } from "../../../ingest/pipeline.ts"
import { readRuns } from "../../../warehouse/relations.ts"
import { expectOneLineError } from "../../support/cli-expect.ts"
import { runCdp } from "../../support/cli.ts"
import { eventOn } from "../../support/events.ts"
import { freshDir, removeDir, withPipeline } from "../../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const land = Effect.gen(function* () {
  yield* (yield* Pipeline).submit([
    eventOn("a1", 1, { userId: "ann", event: "Order Completed", properties: { total: 20 } }),
    eventOn("a2", 8, { userId: "ann", type: "page", event: "Home" }),
    eventOn("g1", 3, { tenant: "globex", userId: "gus", type: "page", event: "Home" }),
  ], [])
})

const ms = (computedAt: string) => Date.parse(`${computedAt.replace(" ", "T")}Z`)

/** Polls until `check` holds of the tenant's runs (10 s at most). */
const runsUntil = (tenant: string, check: (runs: ReadonlyArray<{ asOf: string; computedAt: string }>) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 200; i++) {
      const runs = yield* readRuns(tenant)
      if (check(runs)) return runs
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.die(new Error(`runs of ${tenant} never met the condition`))
  })

describe("scheduled relationship computes", () => {
  it("bring every tenant with activity to today once its latest run is older than the period; a new schedule waits one period first", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* land
      const started = Date.now()
      const schedule = yield* Effect.forkScoped(keepRelationsCurrent({ everyMs: 1500, tickMs: 50, config: DEFAULT_RELATIONS_CONFIG }))
      const [first] = yield* runsUntil("acme", (runs) => runs.length > 0)
      expect(first!.asOf).toBe(dayOf(Date.now()))
      // Not at start: one period after the schedule began.
      expect(ms(first!.computedAt) - started).toBeGreaterThanOrEqual(1400)
      yield* runsUntil("globex", (runs) => runs.length > 0)
      // Then again once the run is a period old, and not before.
      const again = yield* runsUntil("acme", (runs) => runs.some((r) => ms(r.computedAt) > ms(first!.computedAt)))
      const gaps = again.map((r) => ms(r.computedAt)).sort((a, b) => a - b)
      for (let i = 1; i < gaps.length; i++) expect(gaps[i]! - gaps[i - 1]!).toBeGreaterThanOrEqual(1400)
      yield* Fiber.interrupt(schedule)
    })), 60_000)

  it("a second compute of a tenant while one runs fails with ComputeRunning; another tenant's runs beside it", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* land
      const compute = (tenant: string) => Effect.exit(computeRelations({ tenant, asOf: "2024-11-01", config: DEFAULT_RELATIONS_CONFIG }))
      const [a, b, c] = yield* Effect.all([compute("acme"), compute("acme"), compute("globex")], { concurrency: "unbounded" })
      const outcomes = [a!, b!].map((e) => (Exit.isSuccess(e) ? "done" : String(Exit.isFailure(e) && JSON.stringify(e.cause))))
      expect(outcomes.filter((o) => o === "done")).toHaveLength(1)
      expect(outcomes.find((o) => o !== "done")).toContain("ComputeRunning")
      expect(Exit.isSuccess(c!)).toBe(true)
      // Once it ended, the tenant computes again.
      expect(Exit.isSuccess(yield* compute("acme"))).toBe(true)
    })), 60_000)

  it.each([["CDP_RELATIONS_EVERY", "-5"], ["CDP_RELATIONS_EVERY", "daily"], ["CDP_EXPORT_EVERY", "-1"]])(
    "cdp serve with %s=%s refuses in one line, exit 1, before it listens", (variable, value) => {
      const r = runCdp(["serve", "--port", "0", "--data-dir", dir], { env: { [variable]: value } })
      expectOneLineError(r, variable)
      expect(r.stderr).not.toContain("listening")
    }, 60_000)
})
