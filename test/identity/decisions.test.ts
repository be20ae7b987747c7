// Operators' identity decisions (identity/decisions.ts) refuse what cannot be a decision before recording anything.
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { decideSuggestion, separateIdentifiers } from "../../identity/decisions.ts"
import { defaultIdentityConfig, makeIdentityStage } from "../../identity/stage.ts"
import { loadOperations } from "../../warehouse/identity.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withWarehouse = <A, E>(program: Effect.Effect<A, E, Warehouse | Scope.Scope>) => withEmbeddedWarehouse(dir, program)

const config = defaultIdentityConfig()

describe("identity decisions", () => {
  it("separating an identifier from itself (as typed, or as the tenant's rules read it) is refused, and nothing is recorded", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const { stage, reload } = yield* makeIdentityStage(config)
      yield* stage([eventOn("login", 1, { type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example" } })])
      const same = yield* Effect.flip(separateIdentifiers("acme", "email:ann@x.example", "email:ann@x.example", "x", config, reload))
      const cased = yield* Effect.flip(separateIdentifiers("acme", "email:ann@x.example", "email:ANN@x.example", "x", config, reload))
      return { same, cased, operations: yield* loadOperations() }
    }))
    for (const e of [result.same, result.cased]) {
      expect(e._tag).toBe("BadIdentifier")
      expect(e.message).toContain("the same identifier as the first (email:ann@x.example)")
    }
    expect(result.operations).toEqual([])
  })

  it("a suggestion id that is empty, 5,000 characters or holds a newline is named in one short line", async () => {
    const messages = await withWarehouse(Effect.gen(function* () {
      const { reload } = yield* makeIdentityStage(config)
      const out: Array<string> = []
      for (const id of ["sug_nope", "", "a".repeat(5000), "sug\nx"]) out.push((yield* Effect.flip(decideSuggestion("acme", id, true, "", config, reload))).message)
      return out
    }))
    expect(messages).toEqual([
      'no open suggestion sug_nope in tenant "acme" (list them with cdp identity suggestions)',
      'no open suggestion "" in tenant "acme" (list them with cdp identity suggestions)',
      `no open suggestion "${"a".repeat(80)}…" (5000 characters) in tenant "acme" (list them with cdp identity suggestions)`,
      'no open suggestion "sug\\nx" in tenant "acme" (list them with cdp identity suggestions)',
    ])
  })
})
