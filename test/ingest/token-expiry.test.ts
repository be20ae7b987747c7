// A token's expiry (cdp token create --expires, POST /v1/tokens {"expires"}) is stored in a DateTime64 column, which
// holds 1900-01-01 to 2299-12-31: a duration reaching past that is refused as a date past it is. Probing cdp serve
// found POST /v1/tokens {"expires": "99999d"} answered 201 with expiresAt 2300-09-19, while "2300-01-01" was refused
// naming the range; cdp token create --expires 99999d said "expires: expires: ..." (the server's refusal of the date
// the command had computed and sent).
import { describe, expect, it } from "vitest"
import { TokenInvalid, validateTokenInput } from "../../ingest/auth.ts"

const NOW = Date.parse("2026-12-05T02:40:00Z")

describe("a token's expiry", () => {
  it("a duration reaching past 2299-12-31 is refused naming the date it reaches and the range, once", () => {
    const refused = validateTokenInput({ role: "marketer", expires: "99999d" }, NOW)
    expect(refused).toBeInstanceOf(TokenInvalid)
    expect((refused as TokenInvalid).field).toBe("expires")
    expect((refused as TokenInvalid).message).toBe(
      "expires: 99999d reaches 2300-09-19, after 2299-12-31, the latest day the warehouse holds (dates run from 1900-01-01 to 2299-12-31)")
    expect(validateTokenInput({ role: "marketer", expires: "99999h" }, NOW)).not.toBeInstanceOf(TokenInvalid)
    const last = Math.floor((Date.parse("2299-12-31T23:59:59.999Z") - NOW) / 86_400_000)
    expect(validateTokenInput({ role: "marketer", expires: `${last}d` }, NOW)).not.toBeInstanceOf(TokenInvalid)
    expect(validateTokenInput({ role: "marketer", expires: `${last + 1}d` }, NOW)).toBeInstanceOf(TokenInvalid)
  })
})
