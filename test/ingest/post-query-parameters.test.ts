// A POST whose settings go in its JSON body refuses them in the query string (400 unknown_parameter naming the
// parameter and that the rest goes in the body) instead of ignoring them. Found probing cdp serve:
// POST /v1/dead-letters/retry?source=chat&rule=nothing_like_this (empty body) answered 200 and re-drove all 206 of the
// tenant's dead letters; POST /v1/tokens?scopes=... with {"role": "admin"} would make a full admin token.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { basicAuth, freshDir, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("settings of a POST given in its query string", () => {
  it("a dead-letter retry with its filters in the query string is refused naming the first, and re-drives nothing", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const refused = yield* Effect.promise(() => fetch(`${url}/v1/batch`, {
        method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" },
        body: JSON.stringify({ batch: [{ type: "track", userId: "ann", messageId: "no-event" }] }),
      }).then((r) => r.status))
      expect(refused).toBe(400)
      for (let i = 0; i < 200; i++) {
        const r = yield* call(url, "GET", "/v1/dead-letters", ADMIN)
        if ((r.body.deadLetters as Array<unknown>).length === 1) break
        yield* Effect.sleep("50 millis")
      }
      const retry = yield* call(url, "POST", "/v1/dead-letters/retry?source=chat&rule=nothing_like_this", ADMIN)
      expect(retry.status).toBe(400)
      expect(retry.body).toMatchObject({ success: false, rule: "unknown_parameter", field: "source" })
      expect(retry.body.error).toBe('?source= is not taken here; this route takes ?tenant=, and the rest in the JSON body ("source", "rule", "since", "limit")')
      const letters = (yield* call(url, "GET", "/v1/dead-letters", ADMIN)).body.deadLetters as Array<Record<string, unknown>>
      expect(letters[0]!["lastRetry"]).toBeUndefined()
      // ?tenant= is still taken, and the body's filters work as before.
      const inBody = yield* call(url, "POST", "/v1/dead-letters/retry?tenant=acme", ADMIN, { source: "chat" })
      expect(inBody.body).toMatchObject({ success: true, retried: 0 })
    })), 120_000)

  it("a token request with scopes or an expiry in the query string is refused, and no token is made", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const made = yield* call(url, "POST", "/v1/tokens?scopes=profiles:read&expires=1d", ADMIN, { role: "admin", tenant: "acme" })
      expect(made.status).toBe(400)
      expect(made.body).toMatchObject({ rule: "unknown_parameter", field: "scopes" })
      expect(made.body.error).toContain('and the rest in the JSON body ("role", "tenant", "scopes", "name", "expires")')
      expect((yield* call(url, "GET", "/v1/tokens?tenant=acme", ADMIN)).body.tokens).toEqual([])
      const inspect = yield* call(url, "POST", "/v1/tokens/inspect?token=x", ADMIN, { token: "cdp_x" })
      expect(inspect.body).toMatchObject({ rule: "unknown_parameter", field: "token" })
      const revoke = yield* call(url, "POST", "/v1/tokens/tok_nothere123/revoke?reason=x", ADMIN)
      expect(revoke.body).toMatchObject({ rule: "unknown_parameter", field: "reason" })
      const one = yield* call(url, "GET", "/v1/tokens/tok_nothere123?limt=1", ADMIN)
      expect(one.body).toMatchObject({ rule: "unknown_parameter", field: "limt" })
    })), 120_000)

  it("a relationship compute, an operation, an identity decision or a DSR with a setting in the query string is refused", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, unknown, string]> = [
        ["/v1/relations/compute?asOf=2024-01-01&tenant=acme", {}, "asOf"],
        ["/v1/operations/replay?source=segment", { from: "2024-01-01", to: "2024-01-02", tenant: "acme" }, "source"],
        ["/v1/identity/rebuild?wait=true", { tenant: "acme" }, "wait"],
        ["/v1/identity/split?reason=x", { identifier: "user_id:nobody", reason: "r", tenant: "acme" }, "reason"],
        ["/v1/identity/suggestions/sug_nothere/dismiss?reason=x", { tenant: "acme" }, "reason"],
        ["/v1/dsr?lift=true", { type: "access", identifier: "user_id:nobody", tenant: "acme" }, "lift"],
      ]
      for (const [path, body, field] of cases) {
        const r = yield* call(url, "POST", path, ADMIN, body)
        expect(r.status, path).toBe(400)
        expect(r.body, path).toMatchObject({ success: false, rule: "unknown_parameter", field })
        expect(r.body.error, path).toContain("and the rest in the JSON body")
      }
      expect((yield* call(url, "GET", "/v1/operations", ADMIN)).body.operations).toEqual([])
      expect((yield* call(url, "GET", "/v1/dsr", ADMIN)).body.requests).toEqual([])
    })), 120_000)
})
