import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { deadLetter, drop, ok, perMessage, redirect, runStages, type Stage } from "../../ingest/stage.ts"

const double: Stage<number> = perMessage((n) => ok(n * 2))

describe("stages", () => {
  it("each stage sees only the messages still ok, and every message gets exactly one outcome in order", () => {
    const seen: Array<ReadonlyArray<number>> = []
    const record: Stage<number> = (batch) => Effect.sync(() => {
      seen.push(batch)
      return batch.map((n) => ok(n))
    })
    const route: Stage<number> = perMessage((n) =>
      n === 2 ? drop("suppressed") : n === 4 ? deadLetter({ rule: "r", field: "", message: "m" }) : n === 6 ? redirect("later", n) : ok(n))
    const outcomes = Effect.runSync(runStages([1, 2, 3, 5], [double, route, record]))
    expect(outcomes.map((o) => o._tag)).toEqual(["drop", "deadLetter", "redirect", "ok"])
    expect(seen).toEqual([[10]])
  })

  it("a stage that throws on one message dead-letters only that message", () => {
    const fragile: Stage<number> = perMessage((n) => {
      if (n === 13) throw new RangeError("Maximum call stack size exceeded")
      return ok(n)
    })
    const outcomes = Effect.runSync(runStages([1, 13, 2], [fragile, double]))
    expect(outcomes[0]).toEqual(ok(2))
    expect(outcomes[1]).toMatchObject({ _tag: "deadLetter", rejection: { rule: "stage_failed", message: expect.stringContaining("Maximum call stack") } })
    expect(outcomes[2]).toEqual(ok(4))
  })

  it("a typed failure (an outage) is not turned into dead letters", () => {
    const down: Stage<number, string> = () => Effect.fail("warehouse down")
    expect(Effect.runSync(Effect.flip(runStages([1], [down])))).toBe("warehouse down")
  })
})
