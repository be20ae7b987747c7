// A tenant that makes and revokes tokens in a loop keeps at most CDP_MAX_TOKENS stopped (revoked or expired) tokens
// beside its active ones: the newest stay listed, older ones are dropped when it makes or revokes one (and by the
// retention pass, token-retention). Kept only by time (CDP_RETENTION tokens, 13 months), such a loop grew the table,
// and every server's copy of it, without end.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { RELOAD_MS } from "../../ingest/auth.ts"
import { callApi as call, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a tenant making and revoking tokens in a loop", () => {
  it("keeps the newest CDP_MAX_TOKENS stopped tokens; another tenant's are untouched", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const cycle = (tenant: string, name: string) => Effect.gen(function* () {
        const made = yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", tenant, name })
        expect(made.status, JSON.stringify(made.body)).toBe(201)
        const revoked = yield* call(url, "POST", `/v1/tokens/${made.body.details.id}/revoke`, ADMIN)
        expect(revoked.status, JSON.stringify(revoked.body)).toBe(200)
      })
      yield* cycle("globex", "other tenant's")
      for (let i = 1; i <= 5; i++) yield* cycle("acme", `loop ${i}`)
      const last = yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", tenant: "acme", name: "kept active" })
      expect(last.status).toBe(201)
      const listed = () => Effect.map(call(url, "GET", "/v1/tokens?tenant=acme", ADMIN), (r) => (r.body.tokens as Array<{ name: string; status: string }>).map((t) => `${t.name} ${t.status}`))
      expect(yield* listed()).toEqual(["loop 4 revoked", "loop 5 revoked", "kept active active"])
      // Gone from the table too: the server's next read of it (every RELOAD_MS) does not bring them back.
      yield* Effect.sleep(RELOAD_MS + 1_000)
      expect(yield* listed()).toEqual(["loop 4 revoked", "loop 5 revoked", "kept active active"])
      expect(((yield* call(url, "GET", "/v1/tokens?tenant=globex", ADMIN)).body.tokens as Array<{ name: string }>).map((t) => t.name)).toEqual(["other tenant's"])
    }), { maxTokens: 2 }), 120_000)

  it("never holds more than CDP_MAX_TOKENS stopped tokens once a revocation is answered", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const make = (name: string) => Effect.map(call(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", tenant: "acme", name }), (r) => {
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return r.body.details.id as string
      })
      const revoke = (id: string) => Effect.map(call(url, "POST", `/v1/tokens/${id}/revoke`, ADMIN), (r) => expect(r.status, JSON.stringify(r.body)).toBe(200))
      const stopped = () => Effect.map(call(url, "GET", "/v1/tokens?tenant=acme", ADMIN),
        (r) => (r.body.tokens as Array<{ name: string; status: string }>).filter((t) => t.status !== "active").map((t) => t.name))
      // Two active (the most maxTokens 2 allows), both revoked: two stopped, as many as may be kept.
      const [a, b] = [yield* make("a"), yield* make("b")]
      yield* revoke(a)
      yield* revoke(b)
      expect(yield* stopped()).toEqual(["a", "b"])
      // Two more made (nothing to drop yet) and revoked: each revocation drops the oldest stopped one at once.
      const [c, d] = [yield* make("c"), yield* make("d")]
      yield* revoke(c)
      expect(yield* stopped()).toEqual(["b", "c"])
      yield* revoke(d)
      expect(yield* stopped()).toEqual(["c", "d"])
      // Revoking a token already stopped changes nothing.
      yield* revoke(d)
      expect(yield* stopped()).toEqual(["c", "d"])
      yield* Effect.sleep(RELOAD_MS + 1_000)
      expect(yield* stopped()).toEqual(["c", "d"])
    }), { maxTokens: 2 }), 120_000)

  it("a revocation whose drop of older stopped tokens cannot run is still answered: the token is revoked, the drop comes later", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const make = (name: string) => Effect.map(call(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", tenant: "acme", name }), (r) => r.body.details.id as string)
      const a = yield* make("a")
      expect((yield* call(url, "POST", `/v1/tokens/${a}/revoke`, ADMIN)).status).toBe(200)
      const b = yield* make("b")
      // A mutation of api_tokens that fails on every part (accepted when made): no other mutation of the table can run.
      const w = yield* Warehouse
      yield* w.command("ALTER TABLE api_tokens UPDATE name = toString(toUInt32(concat('x', token_id))) WHERE 1 SETTINGS mutations_sync = 0")
      const revoked = yield* call(url, "POST", `/v1/tokens/${b}/revoke`, ADMIN)
      // Before: 500 tokens_failed with the engine's words, though b was revoked.
      expect(revoked.status, JSON.stringify(revoked.body)).toBe(200)
      expect(revoked.body.details).toMatchObject({ id: b, status: "revoked" })
      expect((yield* call(url, "GET", `/v1/tokens/${b}`, ADMIN)).body.details.status).toBe("revoked")
      // Once the mutation in the way is gone, the next revocation (of b again) drops the older one.
      yield* w.command("KILL MUTATION WHERE table = 'api_tokens' SYNC")
      expect((yield* call(url, "POST", `/v1/tokens/${b}/revoke`, ADMIN)).status).toBe(200)
      const names = (yield* call(url, "GET", "/v1/tokens?tenant=acme", ADMIN)).body.tokens.map((t: { name: string }) => t.name)
      expect(names).toEqual(["b"])
    }), { maxTokens: 1 }), 120_000)
})
