// Identity's refused claims are kept apart (identity_claims, migration 085, filled by a view from identity_links), so
// that profile reads, document builds, exports and audiences find a profile's few claims by its messages instead of
// reading identity_links by every identifier the profile states. A claim later resolved otherwise is one no more.
import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { claimedReason } from "../../identity/graph.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { CLAIMED_BY_PROFILE_SQL, CLAIMED_REASON_START, profileIdentifierPage, profileReadScope } from "../../warehouse/profiles.ts"
import { withApi } from "../support/api.ts"
import { landClaim } from "../support/claims.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("the claims table", () => {
  it("copies the links identity refuses with a claim's reason, as the readers' prefix names it", () => {
    const migration = readFileSync(new URL("../../warehouse/migrations/085_identity_claims.sql", import.meta.url), "utf8")
    const prefixes = [...migration.matchAll(/startsWith\(reason, '([^']*)'\)/g)].map((m) => m[1])
    expect(prefixes).toEqual([CLAIMED_REASON_START, CLAIMED_REASON_START])
    for (const kind of ["email", "phone", "user_id"] as const) {
      for (const quiet of [0, 90 * 86_400_000]) expect(claimedReason(kind, quiet).startsWith(CLAIMED_REASON_START)).toBe(true)
    }
  })

  it("holds a landed claim; a claim whose link is later resolved otherwise is no longer shown claimed", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landClaim(url)
      const claims = yield* query<{ message_id: string; a: string; b: string }>(
        "SELECT message_id, a, b FROM identity_claims WHERE tenant = 'acme' ORDER BY message_id, a, b")
      expect(claims).toEqual([{ message_id: "u10-1", a: "user_id:u10", b: "email:x@example.com" }])
      const u10 = (yield* query<{ profile_id: string }>(
        "SELECT DISTINCT profile_id FROM events WHERE tenant = 'acme' AND message_id = 'u10-1'"))[0]!.profile_id
      const emailsOf = Effect.gen(function* () {
        const page = yield* profileIdentifierPage(yield* profileReadScope("acme", u10), 10, undefined)
        return page.rows.filter((r) => r.kind === "email").map((r) => ({ value: r.value, claimed: r.claimed !== "" }))
      })
      const byProfile = query<{ profile_id: string; claimed: Array<string>; claimed_raws: Array<string> }>(CLAIMED_BY_PROFILE_SQL, { tenant: "acme" })
      expect(yield* emailsOf).toEqual([{ value: "x@example.com", claimed: true }])
      expect(yield* byProfile).toEqual([{ profile_id: u10, claimed: ["email:x@example.com"], claimed_raws: ["x@example.com"] }])
      // The same link resolved again later, now linked (as when the holder's account is closed and the value moves).
      const warehouse = yield* Warehouse
      yield* warehouse.insert("identity_links", [{
        tenant: "acme", a: "user_id:u10", b: "email:x@example.com", message_id: "u10-1", timestamp: "2024-10-03 10:00:00.000",
        trust: "stated", rule: "same message", status: "linked", reason: "", resolved_at: "2099-01-01 00:00:00.000",
      }])
      expect(yield* emailsOf).toEqual([{ value: "x@example.com", claimed: false }])
      expect(yield* byProfile).toEqual([])
    })), 60_000)

  it("is empty for a tenant nobody claimed anything of, whose identifiers are then all the profile's own", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landClaim(url)
      const rows = yield* query<{ tenant: string }>("SELECT DISTINCT tenant FROM identity_claims")
      expect(rows.map((r) => r.tenant)).toEqual(["acme"])
      expect(yield* query(CLAIMED_BY_PROFILE_SQL, { tenant: "globex" })).toEqual([])
    })), 60_000)
})
