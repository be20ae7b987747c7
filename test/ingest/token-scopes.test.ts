// A token made with its whole role follows the role as it gains scopes (a marketer's token of last month reads
// relationship scores); a token made with fewer scopes keeps exactly its own, whenever it was made.
import { describe, expect, it } from "vitest"
import { effectiveScopes, ROLES } from "../../ingest/auth.ts"

const before = Date.parse("2026-12-01T00:00:00Z")
const after = Date.parse("2026-12-10T00:00:00Z")

describe("a token's scopes", () => {
  it("are its role's today when it was made with its whole role that day", () => {
    const oldMarketer = ROLES.marketer.filter((s) => s !== "relations:read")
    expect(effectiveScopes({ role: "marketer", scopes: oldMarketer, createdAtMs: before })).toEqual(ROLES.marketer)
    const oldAdmin = ROLES.admin.filter((s) => !s.startsWith("relations:") && !s.startsWith("dead-letters:") && !s.startsWith("operations:"))
    expect(new Set(effectiveScopes({ role: "admin", scopes: oldAdmin, createdAtMs: before }))).toEqual(new Set(ROLES.admin))
    expect(effectiveScopes({ role: "marketer", scopes: ROLES.marketer, createdAtMs: after })).toEqual(ROLES.marketer)
  })

  it("stay its own when it was made with fewer than its role had that day", () => {
    // Made after relations:read was the marketer's, without it: a choice, kept.
    const noRelations = ROLES.marketer.filter((s) => s !== "relations:read")
    expect(effectiveScopes({ role: "marketer", scopes: noRelations, createdAtMs: after })).toEqual(noRelations)
    // Made before, with fewer than the role had then: kept, and not widened by what the role gained since.
    expect(effectiveScopes({ role: "marketer", scopes: ["profiles:read"], createdAtMs: before })).toEqual(["profiles:read"])
    const readOnlyAdmin = ["query", "audit:read"]
    expect(effectiveScopes({ role: "admin", scopes: readOnlyAdmin, createdAtMs: before })).toEqual(readOnlyAdmin)
    // A scope outside its role (stored by hand) never makes it follow the role.
    expect(effectiveScopes({ role: "marketer", scopes: [...ROLES.marketer, "dsr:write"], createdAtMs: after })).toEqual([...ROLES.marketer, "dsr:write"])
  })
})
