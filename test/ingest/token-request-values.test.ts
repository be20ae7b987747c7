// A token request's refused values (cdp token create, POST /v1/tokens) are quoted cut to 80 characters. Probing
// cdp serve found a 10,000-character role, scope or expiry quoted back whole (errors of 10,157 to 10,447 bytes).
import { describe, expect, it } from "vitest"
import { TokenInvalid, tokenLookup, validateTokenInput } from "../../ingest/auth.ts"

const long = "x".repeat(10_000)
const cut = `"${"x".repeat(80)}…"`

describe("a token request's refused value", () => {
  it.each([
    [{ role: long }, "role", `role must be one of collector, marketer, compliance, admin (not ${cut})`],
    [{ role: "marketer", scopes: [long] }, "scopes", `unknown scope ${cut} (scopes: `],
    [{ role: "marketer", scopes: ["query", "profiles:read"] }, "scopes", 'scope "query" is not the marketer role\'s'],
    [{ role: "marketer", expires: long }, "expires", `expiry ${cut} is not a date (2027-01-31), a date-time (2027-01-31T12:00:00Z) or a duration (30d, 12h)`],
  ])("%# is quoted cut, naming the field", (input, field, words) => {
    const refused = validateTokenInput(input, Date.parse("2026-12-05T00:00:00Z"))
    expect(refused).toBeInstanceOf(TokenInvalid)
    expect((refused as TokenInvalid).field).toBe(field)
    expect((refused as TokenInvalid).message).toContain(words)
    expect((refused as TokenInvalid).message.length).toBeLessThan(600)
  })
})

describe("inspecting by something that is neither a token id nor a token", () => {
  // Probing found `cdp token inspect cdp_notatoken` told "give a token id (tok_...) or a token (cdp_...)", though it
  // had given something starting cdp_: a cut or mistyped token is told what a whole one looks like.
  it("a cut token is told it is not a whole one; anything else what the two look like", () => {
    const cutToken = tokenLookup("cdp_notatoken")
    expect(cutToken).toBeInstanceOf(TokenInvalid)
    expect((cutToken as TokenInvalid).message).toBe("that is not a whole token: a token is cdp_ and 20-100 letters, digits, _ or - (as cdp token create printed it)")
    const cutId = tokenLookup("tok_ab")
    expect((cutId as TokenInvalid).message).toBe("that is not a token id: a token id is tok_ and 6-40 letters, digits, _ or - (cdp token list shows them)")
    expect((tokenLookup("hunter2") as TokenInvalid).message).toBe("give a token id (tok_...) or a token (cdp_...)")
    expect(tokenLookup("tok_abcdef")).toEqual({ id: "tok_abcdef" })
  })
})
