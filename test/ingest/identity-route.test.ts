// The identity decision routes (ingest/identity-route.ts) on a real embedded warehouse: decisions of one tenant run
// one at a time, and never wait for another tenant's.
import type { IncomingMessage } from "node:http"
import { Deferred, Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { identityRoute } from "../../ingest/identity-route.ts"
import { preReadBodies, type QueryReply } from "../../ingest/query-route.ts"
import { defaultIdentityConfig, makeIdentityStage } from "../../identity/stage.ts"
import { type QueryOptions, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const config = defaultIdentityConfig()

/** A POST to the route as the collector hands it over once its guard has read the body. */
const request = (path: string, body: unknown): IncomingMessage => {
  const req = { method: "POST", url: path, headers: {} } as IncomingMessage
  preReadBodies.set(req, JSON.stringify(body))
  return req
}

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
})
