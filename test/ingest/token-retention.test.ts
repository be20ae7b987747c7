// Revoked and expired tokens are kept a while, listed as such, then dropped: CDP_RETENTION's `tokens` months (default
// 13) after they stopped working, by the retention pass (at start, daily, `cdp retention apply`). Found probing cdp
// serve: revoked and long-expired tokens stayed in api_tokens, and in every server's memory, for ever.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { createToken, listTokens, makeTokenRegistry, RELOAD_MS, revokeToken, type TokenInput } from "../../ingest/auth.ts"
import { applyStoredRetention } from "../../ingest/retention.ts"
import { storeTokenUses } from "../../warehouse/tokens.ts"
import { DEFAULT_RETENTION, parseRetention } from "../../warehouse/retention.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const NOW = Date.parse("2026-12-06T12:00:00Z")
const MONTH = 31 * 86_400_000
const input = (name: string, expiresAtMs: number | null = null): TokenInput => ({ role: "marketer", tenant: "acme", scopes: ["profiles:read"], name, expiresAtMs })

/** Tokens in every state: which stopped working more than 13 months before NOW, and which did not. */
const seed = Effect.gen(function* () {
  const made = (name: string, createdMs: number, expiresAtMs: number | null = null) => Effect.map(createToken(input(name, expiresAtMs), createdMs), (t) => t.record.id)
  const longRevoked = yield* made("revoked 14 months ago", NOW - 20 * MONTH)
  yield* revokeToken(longRevoked, NOW - 14 * MONTH)
  const longExpired = yield* made("expired 14 months ago", NOW - 20 * MONTH, NOW - 14 * MONTH)
  // Revoked last month, but it had stopped working long before: it expired 14 months ago.
  const expiredThenRevoked = yield* made("expired, then revoked", NOW - 20 * MONTH, NOW - 14 * MONTH)
  yield* revokeToken(expiredThenRevoked, NOW - MONTH)
  const recentlyRevoked = yield* made("revoked last month", NOW - 20 * MONTH)
  yield* revokeToken(recentlyRevoked, NOW - MONTH)
  const recentlyExpired = yield* made("expired last month", NOW - 20 * MONTH, NOW - MONTH)
  const old = yield* made("active for 3 years", NOW - 36 * MONTH)
  const later = yield* made("expires next year", NOW - 36 * MONTH, NOW + 12 * MONTH)
  yield* storeTokenUses(new Map([[longRevoked, NOW - 15 * MONTH], [old, NOW - MONTH]]))
  return { dropped: [longRevoked, longExpired, expiredThenRevoked], kept: [recentlyRevoked, recentlyExpired, old, later] }
})

describe("retention of tokens", () => {
  it("drops tokens revoked or expired more than the period ago, with their last uses; keeps the rest, listed as they are", () =>
    withPipeline(dir, Effect.gen(function* () {
      const { dropped, kept } = yield* seed
      expect(DEFAULT_RETENTION.tokens).toBe(13)
      const registry = yield* makeTokenRegistry({ adminToken: undefined, warehouse: yield* Warehouse })
      expect(registry.find({ id: dropped[0]! })).toBeDefined()
      const forever = yield* applyStoredRetention(parseRetention("tokens=forever"), { now: () => new Date(NOW) })
      expect(forever.tokens).toBe(0)
      expect((yield* listTokens).length).toBe(7)
      const pass = yield* applyStoredRetention(parseRetention(""), { now: () => new Date(NOW) })
      expect(pass.tokens).toBe(3)
      const listed = yield* listTokens
      expect(listed.map((v) => v.id).sort()).toEqual([...kept].sort())
      expect(Object.fromEntries(listed.map((v) => [v.name, v.status]))).toMatchObject({
        "revoked last month": "revoked", "expired last month": "expired", "active for 3 years": "active", "expires next year": "active",
      })
      const uses = yield* (yield* Warehouse).query<{ token_id: string }>("SELECT token_id FROM api_token_uses")
      expect(uses.map((u) => u.token_id)).toEqual([kept[2]])
      // A running server forgets them at its next reload of the table.
      yield* Effect.sleep(RELOAD_MS + 1_000)
      for (const id of dropped) expect(registry.find({ id }), id).toBeUndefined()
      for (const id of kept) expect(registry.find({ id }), id).toBeDefined()
      expect((yield* applyStoredRetention(parseRetention(""), { now: () => new Date(NOW) })).tokens).toBe(0)
    })), 90_000)

  it("keeps each tenant at most CDP_MAX_TOKENS stopped tokens, the latest to stop, tokens that expired unused too", () =>
    withPipeline(dir, Effect.gen(function* () {
      // Tokens that expire stop without anyone making or revoking one: only the daily pass bounds them then.
      const made = (name: string, expiresAtMs: number | null, tenant = "acme") =>
        Effect.map(createToken({ ...input(name, expiresAtMs), tenant }, NOW - 3 * MONTH), (t) => t.record.id)
      for (let i = 1; i <= 4; i++) yield* made(`expired ${i} days ago`, NOW - i * 86_400_000)
      const revoked = yield* made("revoked an hour ago", null)
      yield* revokeToken(revoked, NOW - 3_600_000)
      yield* made("active", null)
      yield* made("globex's expired", NOW - 86_400_000, "globex")
      const registry = yield* makeTokenRegistry({ adminToken: undefined, warehouse: yield* Warehouse })
      const pass = yield* applyStoredRetention(parseRetention(""), { now: () => new Date(NOW), maxTokens: 2 })
      expect(pass.tokens).toBe(3)
      const acme = (yield* listTokens).filter((v) => v.tenant === "acme").map((v) => `${v.name} ${v.status}`).sort()
      expect(acme).toEqual(["active active", "expired 1 days ago expired", "revoked an hour ago revoked"])
      expect((yield* listTokens).filter((v) => v.tenant === "globex").map((v) => v.name)).toEqual(["globex's expired"])
      yield* Effect.sleep(RELOAD_MS + 1_000)
      expect((yield* registry.views).filter((v) => v.tenant === "acme").length).toBe(3)
      // tokens=forever keeps stopped tokens by time, not past the cap.
      yield* made("expired 5 days ago", NOW - 5 * 86_400_000)
      expect((yield* applyStoredRetention(parseRetention("tokens=forever"), { now: () => new Date(NOW), maxTokens: 2 })).tokens).toBe(1)
    })), 90_000)
})
