// Test support: two profiles that look like one person (same name, near-same address, different user ids), landed
// through a real collector, and the tenant's open identity suggestions as GET /v1/identity/suggestions lists them.
import { Effect } from "effect"
import { expect } from "vitest"
import { callApi, landBatch, TEST_ADMIN_TOKEN } from "./api.ts"

/** Lands u1 (quinn.brennan@) and u2 (quinn_brennan@), both "Quinn Brennan", in tenant acme: one suggestion results. */
export const landLookAlikes = (url: string) =>
  landBatch(url, [
    { type: "identify", userId: "u1", traits: { name: "Quinn Brennan", email: "quinn.brennan@x.example" }, messageId: "m1", timestamp: "2024-10-01T10:00:00Z" },
    { type: "identify", userId: "u2", traits: { name: "Quinn Brennan", email: "quinn_brennan@x.example" }, messageId: "m2", timestamp: "2024-10-01T11:00:00Z" },
  ], { identifier: "user_id:u2", events: 1 })

/** Tenant acme's open suggestions (asserting the list answered 200). */
export const openSuggestions = (url: string) =>
  Effect.map(callApi(url, "GET", "/v1/identity/suggestions?tenant=acme", TEST_ADMIN_TOKEN), (r) => {
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    return r.body.suggestions as Array<{ id: string }>
  })
