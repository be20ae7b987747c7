import { describe, expect, it } from "vitest"
import { provisionalProfileId } from "../../identity/index.ts"

describe("provisional profile id", () => {
  it("is the userId, else the anonymousId, else the first stated identifier", () => {
    expect(provisionalProfileId({ userId: "u1", anonymousId: "a1", identifiers: [] })).toBe("u1")
    expect(provisionalProfileId({ userId: "", anonymousId: "a1", identifiers: [{ kind: "email", value: "x@y.z" }] })).toBe("a1")
    expect(provisionalProfileId({ userId: "", anonymousId: "", identifiers: [{ kind: "email", value: " Jane@Example.com " }] })).toBe("email:jane@example.com")
    expect(provisionalProfileId({ userId: "", anonymousId: "", identifiers: [{ kind: "twitter_id", value: "42" }, { kind: "twitter_handle", value: "x" }] })).toBe("twitter_id:42")
    expect(provisionalProfileId({ userId: "", anonymousId: "", identifiers: [] })).toBe("")
  })
})
