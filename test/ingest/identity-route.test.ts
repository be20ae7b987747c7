// The identity decision routes (ingest/identity-route.ts) on a real embedded warehouse: decisions of one tenant run
// one at a time, and never wait for another tenant's.
import type { IncomingMessage } from "node:http"
import { Deferred, Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { identityRoute } from "../../ingest/identity-route.ts"
import type { QueryReply } from "../../ingest/query-route.ts"
import { defaultIdentityConfig, makeIdentityStage } from "../../identity/stage.ts"
import { type QueryOptions, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { eventOn } from "../support/events.ts"
import { routeRequest } from "../support/route-request.ts"
import { freshDir, post, removeDir, withCollector, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const config = defaultIdentityConfig()

const request = (path: string, body: unknown) => routeRequest("POST", path, body)

describe("identity decision routes", () => {
  it("tenant B's decision completes while tenant A's is held", async () => {
    const replies = await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const { stage } = yield* makeIdentityStage(config)
      yield* stage([
        eventOn("a1", 1, { tenant: "acme", type: "identify", userId: "ua", traits: { email: "ann@a.example" } }),
        eventOn("b1", 1, { tenant: "globex", type: "identify", userId: "ub", traits: { email: "bob@b.example" } }),
      ])
      // Tenant acme's warehouse reads stall (a large tenant's rebuild, a slow query) until released.
      const reached = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const slow: WarehouseShape = {
        ...warehouse,
        query: <T>(sql: string, options?: QueryOptions) =>
          options?.params?.["tenant"] === "acme"
            ? Effect.andThen(Deferred.succeed(reached, undefined), Effect.andThen(Deferred.await(release), warehouse.query<T>(sql, options)))
            : warehouse.query<T>(sql, options),
      }
      const route = yield* identityRoute({ warehouse: slow, config, reload: Effect.void })
      const split = (tenant: string, identifier: string) =>
        route(request("/v1/identity/split", { identifier, reason: "test", tenant }))
      const held = yield* Effect.forkChild(split("acme", "email:ann@a.example"))
      yield* Deferred.await(reached)
      const other = yield* split("globex", "email:bob@b.example").pipe(Effect.timeoutOption("10 seconds"))
      yield* Deferred.succeed(release, undefined)
      const first = yield* Fiber.join(held)
      return { other, first }
    }))
    expect(replies.other._tag, "globex's split waited for acme's").toBe("Some")
    expect((replies.other as { value: QueryReply }).value.status).toBe(200)
    expect(replies.first.status).toBe(200)
  }, 60_000)

  it("a reason it refuses is answered 400 at once, not after the tenant's running decision", async () => {
    const reply = await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const { stage } = yield* makeIdentityStage(config)
      yield* stage([eventOn("a1", 1, { tenant: "acme", type: "identify", userId: "ua", traits: { email: "ann@a.example" } })])
      const reached = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const slow: WarehouseShape = {
        ...warehouse,
        query: <T>(sql: string, options?: QueryOptions) =>
          Effect.andThen(Deferred.succeed(reached, undefined), Effect.andThen(Deferred.await(release), warehouse.query<T>(sql, options))),
      }
      const route = yield* identityRoute({ warehouse: slow, config, reload: Effect.void })
      const held = yield* Effect.forkChild(route(request("/v1/identity/split", { identifier: "email:ann@a.example", reason: "test", tenant: "acme" })))
      yield* Deferred.await(reached)
      const bad = yield* route(request("/v1/identity/split", { identifier: "email:ann@a.example", reason: "x\u001b[2J", tenant: "acme" }))
        .pipe(Effect.timeoutOption("5 seconds"))
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(held)
      return bad
    }))
    expect(reply._tag, "the bad reason waited for the running split").toBe("Some")
    expect((reply as { value: QueryReply }).value).toMatchObject({ status: 400, body: { rule: "bad_body", field: "/reason" } })
  }, 60_000)

  it("a suggestion accepted or dismissed once is 409 naming it, what was decided, when and by whom; an unknown one stays 404", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      // Two people, each seen as two profiles (one name, the same e-mail local part on two domains): two suggestions.
      for (const name of ["Ann Lee", "Bob Stone"]) {
        const local = name.toLowerCase().replace(" ", ".")
        for (const domain of ["x.example", "y.example"]) {
          const res = yield* post(`${url}/v1/identify`, { userId: `${local}@${domain}`, messageId: `m-${local}-${domain}`, traits: { name, email: `${local}@${domain}` } })
          expect(res.status).toBe(200)
        }
      }
      const route = yield* identityRoute({ warehouse: yield* Warehouse, config, reload: Effect.void })
      const listed = yield* route({ method: "GET", url: "/v1/identity/suggestions?tenant=acme" } as IncomingMessage)
      const [first, second] = (listed.body as { suggestions: Array<{ id: string }> }).suggestions.map((s) => s.id)
      const decide = (id: string, what: "accept" | "dismiss", tokenId = "tok_officer") =>
        Effect.map(route(request(`/v1/identity/suggestions/${id}/${what}`, { tenant: "acme", reason: "same person" }), { tenant: undefined, tokenId }),
          (r) => ({ status: r.status, body: r.body as { rule?: string; error?: string; field?: string; operation?: { atMs: number; actor: string } } }))

      const accepted = yield* decide(first!, "accept")
      expect(accepted.status).toBe(200)
      expect(accepted.body.operation!.actor).toBe("token:tok_officer")
      const at = new Date(accepted.body.operation!.atMs).toISOString()
      for (const what of ["accept", "dismiss"] as const) {
        const again = yield* decide(first!, what, "tok_late")
        expect(again).toMatchObject({ status: 409, body: { rule: "suggestion_already_accepted", field: "/id" } })
        expect(again.body.error).toContain(`suggestion ${first} of tenant "acme" was already accepted at ${at} by token:tok_officer`)
      }

      const dismissed = yield* decide(second!, "dismiss", "tok_other")
      expect(dismissed.status).toBe(200)
      const dismissedAt = new Date(dismissed.body.operation!.atMs).toISOString()
      for (const what of ["accept", "dismiss"] as const) {
        const again = yield* decide(second!, what)
        expect(again).toMatchObject({ status: 409, body: { rule: "suggestion_already_dismissed", field: "/id" } })
        expect(again.body.error).toContain(`suggestion ${second} of tenant "acme" was already dismissed at ${dismissedAt} by token:tok_other`)
      }
      // Every decision is on record with who made it.
      const recorded = yield* (yield* Warehouse).query<{ kind: string; actor: string }>(
        "SELECT kind, actor FROM identity_operations WHERE tenant = 'acme' ORDER BY at")
      expect(recorded).toEqual([{ kind: "link", actor: "token:tok_officer" }, { kind: "dismiss", actor: "token:tok_other" }])
      // Another tenant's decisions are not this one's.
      const elsewhere = yield* Effect.map(route(request(`/v1/identity/suggestions/${first}/accept`, { tenant: "globex" })), (r) => r.body as { rule: string })
      expect(elsewhere.rule).toBe("unknown_suggestion")
      expect((yield* decide("sug_nope", "accept")).status).toBe(404)
    })), 60_000)
  it("separating an identifier from itself names /b, the one repeated, and says a and b name one identifier", async () => {
    const replies = await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const { stage } = yield* makeIdentityStage(config)
      yield* stage([eventOn("a1", 1, { tenant: "acme", type: "identify", userId: "ua", traits: { email: "ann@a.example" } })])
      const route = yield* identityRoute({ warehouse: yield* Warehouse, config, reload: Effect.void })
      const separate = (a: string, b: string) => route(request("/v1/identity/separate", { a, b, reason: "test", tenant: "acme" }))
      return [yield* separate("email:ann@a.example", "email:ann@a.example"), yield* separate("email:ann@a.example", "email:ANN@a.example")]
    }))
    const [same, cased] = replies
    for (const reply of replies) expect(reply).toMatchObject({ status: 400, body: { rule: "bad_identifier", field: "/b" } })
    expect((same!.body as { error: string }).error).toBe(
      "a and b name one identifier, email:ann@a.example: separating takes two different identifiers")
    expect((cased!.body as { error: string }).error).toBe(
      'a and b name one identifier, email:ann@a.example (as the tenant\'s rules read b, "email:ANN@a.example"): separating takes two different identifiers')
  }, 60_000)
})
