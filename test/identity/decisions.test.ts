// Operators' identity decisions (identity/decisions.ts) refuse what cannot be a decision before recording anything.
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { decideSuggestion, separateIdentifiers, splitIdentifier } from "../../identity/decisions.ts"
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
      expect(e._tag).toBe("SameIdentifier")
      expect(e.message).toContain("a and b name one identifier, email:ann@x.example")
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
  it("a reason with a control or invisible character, or past 1,000 characters, is refused by every decision, and nothing is recorded", async () => {
    const result = await withWarehouse(Effect.gen(function* () {
      const { stage, reload } = yield* makeIdentityStage(config)
      yield* stage([eventOn("login", 1, { type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example" } })])
      const tenant = "default"
      const errors = [
        yield* Effect.flip(splitIdentifier(tenant, "email:ann@x.example", "x\u0000y", config, reload)),
        yield* Effect.flip(splitIdentifier(tenant, "email:ann@x.example", "r".repeat(1001), config, reload)),
        yield* Effect.flip(separateIdentifiers(tenant, "email:ann@x.example", "user_id:u1", "evil\u202e", config, reload)),
        yield* Effect.flip(decideSuggestion(tenant, "sug_x", true, "clear \u001b[2J", config, reload)),
        yield* Effect.flip(decideSuggestion(tenant, "sug_x", false, "bell\u0007", config, reload)),
      ]
      return { errors, operations: yield* loadOperations() }
    }))
    expect(result.errors.map((e) => e._tag)).toEqual(["BadReason", "BadReason", "BadReason", "BadReason", "BadReason"])
    expect(result.errors.map((e) => e.message)).toEqual([
      expect.stringContaining("U+0000"), expect.stringContaining("at most 1,000 characters (it has 1,001)"),
      expect.stringContaining("U+202E"), expect.stringContaining("U+001B"), expect.stringContaining("U+0007"),
    ])
    expect(result.operations).toEqual([])
  })
})
