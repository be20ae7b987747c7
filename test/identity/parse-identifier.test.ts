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

  // Seen probing cdp serve: POST /v1/dsr {"identifier": "EMAIL:ann@x.example"} was 400 "the part before @ holds
  // characters an address cannot have": a kind not written in lower case was not read as a kind, and the whole text
  // was taken for an address.
  it("a kind is read whatever its case, and a kind-like prefix of an address is named as an unknown kind", () => {
    expect(parseIdentifier("EMAIL:Ann@X.example")).toEqual({ _tag: "identifier", kind: "email", value: "ann@x.example" })
    expect(parseIdentifier("User_Id:u1")).toEqual({ _tag: "identifier", kind: "user_id", value: "u1" })
    expect((parseIdentifier("mail:ann@x.example") as BadIdentifier).message).toMatch(/^"mail:ann@x.example" is not an identifier we can look up: unknown kind "mail"/)
    // Bare values are read as before.
    expect(parseIdentifier("ann@x.example")).toEqual({ _tag: "identifier", kind: "email", value: "ann@x.example" })
    expect(parseIdentifier("@ann_x")).toMatchObject({ _tag: "identifier", kind: "twitter_handle" })
    expect(parseIdentifier("user_id:a:b")).toEqual({ _tag: "identifier", kind: "user_id", value: "a:b" })
  })
})
