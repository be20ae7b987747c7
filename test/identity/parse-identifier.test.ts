// What a person types to name someone (KIND:VALUE, an e-mail, a profile id) and how a wrong one is told.
import { describe, expect, it } from "vitest"
import { BadIdentifier, parseIdentifier } from "../../identity/index.ts"

describe("parseIdentifier", () => {
  it("a refused identifier is quoted by its start, not echoed whole (a 60 KB one made a 60 KB error line)", () => {
    const long = parseIdentifier(`email:${"a".repeat(60_000)}@x.example`)
    expect(long).toBeInstanceOf(BadIdentifier)
    const message = (long as BadIdentifier).message
    expect(message).toBe(`"email:${"a".repeat(74)}…" (60016 characters) is not an identifier we can look up: an identifier may be at most 512 characters`)
    // A short one is quoted whole, as before.
    expect((parseIdentifier("nosuch:abc") as BadIdentifier).message).toMatch(/^"nosuch:abc" is not an identifier we can look up: unknown kind "nosuch"/)
  })
})
