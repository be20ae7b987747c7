// Test support: a signed-in user (u10) stating the e-mail address another user id (u11) held first, landed through a
// real collector (identity refuses the claim: identity/graph.ts claimedReason).
import { Effect } from "effect"
import { landBatch } from "./api.ts"

/** u11 identifies with X@Example.com on 2024-10-01; u10 states x@example.com on 2024-10-03 and views a page. */
export const landClaim = (url: string) =>
  Effect.gen(function* () {
    yield* landBatch(url, [
      { type: "identify", userId: "u11", messageId: "u11-1", timestamp: "2024-10-01T10:00:00.000Z", traits: { email: "X@Example.com", name: "Eleven" } },
    ], { identifier: "user_id:u11", events: 1 })
    yield* landBatch(url, [
      { type: "identify", userId: "u10", messageId: "u10-1", timestamp: "2024-10-03T10:00:00.000Z", traits: { email: "x@example.com", name: "Ten" } },
      { type: "track", userId: "u10", event: "Viewed", messageId: "u10-2", timestamp: "2024-10-03T10:01:00.000Z" },
    ], { identifier: "user_id:u10", events: 2 })
  })
