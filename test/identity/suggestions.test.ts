import { describe, expect, it } from "vitest"
import { findSuggestions, type ProfileSummary } from "../../identity/suggestions.ts"

const p = (profileId: string, names: Array<string>, emails: Array<string> = [], phones: Array<string> = []): ProfileSummary =>
  ({ profileId, names, emails, phones })

describe("duplicate suggestions", () => {
  it("suggests a pair with a close name and a close e-mail or the same phone, with its evidence", () => {
    const found = findSuggestions([
      p("p1", ["José Andersson"], ["jose.andersson@mail.example"]),
      p("p2", ["Jose Anderson"], ["joseandersson@inbox.example"]),
      p("p3", ["Mia Shah"], [], ["+14105550147"]),
      p("p4", ["Mia  Shah"], [], ["+14105550147"]),
    ])
    expect(found.map((s) => [s.a, s.b])).toEqual([["p3", "p4"], ["p1", "p2"]])
    expect(found[1]!.evidence.map((e) => e.field)).toEqual(["name", "email"])
    expect(found[0]!.id).toMatch(/^sug_/)
  })

  it("the same name alone is not enough (two people may share a name)", () => {
    expect(findSuggestions([p("p1", ["Emily Evans"], ["ee@a.example"], ["+447700900001"]), p("p2", ["Emily Evans"], ["zz@b.example"], ["+447700900002"])])).toEqual([])
  })

  it("a pair's id does not depend on which profile comes first", () => {
    const a = p("p1", ["Ana Ruiz"], ["ana.ruiz@a.example"])
    const b = p("p2", ["Ana Ruiz"], ["anaruiz@b.example"])
    expect(findSuggestions([a, b])[0]!.id).toBe(findSuggestions([b, a])[0]!.id)
  })
})
