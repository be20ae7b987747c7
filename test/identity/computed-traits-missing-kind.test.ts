// A computed trait's definition without a kind is refused naming /kind. Seen probing cdp serve: POST
// /v1/traits/preview {"definition": {"name": "x"}} answered 400 naming /definition/of ("is needed by sum, first, last
// and most_frequent"): the schema's rules for which kind takes which field ran on a definition with no kind at all.
import { describe, expect, it } from "vitest"
import { IdentityRulesInvalid } from "../../identity/config.ts"
import { parseComputedTraits, parseDefinition } from "../../identity/index.ts"

const refusal = (f: () => unknown): { field: string; problem: string } | undefined => {
  try {
    f()
    return undefined
  } catch (e) {
    expect(e).toBeInstanceOf(IdentityRulesInvalid)
    return { field: (e as IdentityRulesInvalid).field, problem: (e as IdentityRulesInvalid).problem }
  }
}

describe("a computed trait's definition without a kind", () => {
  it("is refused naming /kind, whatever else it gives", () => {
    expect(refusal(() => parseDefinition(JSON.stringify({ name: "x" })))).toEqual({ field: "/kind", problem: "is missing" })
    expect(refusal(() => parseDefinition(JSON.stringify({ name: "x", windowDays: 7 })))).toEqual({ field: "/kind", problem: "is missing" })
    expect(refusal(() => parseDefinition(JSON.stringify({ name: "x", of: "properties.total" })))).toEqual({ field: "/kind", problem: "is missing" })
    expect(refusal(() => parseComputedTraits(JSON.stringify({ acme: [{ name: "x" }] })))).toEqual({ field: "/acme/0/kind", problem: "is missing" })
  })

  it("the rules of each kind still hold once it is given", () => {
    expect(refusal(() => parseDefinition(JSON.stringify({ name: "x", kind: "sum" })))?.field).toBe("/of")
    expect(refusal(() => parseDefinition(JSON.stringify({ name: "x", kind: "first", of: "event", windowDays: 3 })))?.field).toBe("/windowDays")
    expect(refusal(() => parseDefinition(JSON.stringify({ name: "x", kind: "latest_sentiment", events: ["a"] })))).toBeDefined()
    expect(refusal(() => parseDefinition(JSON.stringify({ name: "x", kind: "sum", of: "event" })))?.field).toBe("/of")
    expect(parseDefinition(JSON.stringify({ name: "x", kind: "count", windowDays: 7 })).kind).toBe("count")
  })
})
