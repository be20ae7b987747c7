// A tenant's previews take turns (warehouse interactiveTurn): while one of its previews runs, another of its audience
// or trait previews is answered 429 preview_busy with Retry-After at once, and another tenant's preview still runs.
// Seen probing cdp serve: tenant acme posting 20 audience previews at once (an "or" of 199 leaves, sample 1000, about
// 2 s each) held tenant globex's one-message batch 30 s (503 backend_timeout) and its profile read, preview and
// dead-letter list 35 s; after running previews on a connection of their own, still 21 s (chDB's statements share
// libuv's 4 threads).
import { Deferred, Effect, Fiber } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { interactiveTurn } from "../../warehouse/warehouse.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const audience = (tenant: string) => ({ tenant, purpose: "Analytics", condition: { event: "Order Completed" }, sample: 5 })
const trait = (tenant: string) => ({ tenant, definition: { name: "orders", kind: "count", events: ["Order Completed"] }, sample: 5 })

it("while a tenant's preview runs, its next audience or trait preview is 429 preview_busy, another tenant's is answered", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    const held = yield* Deferred.make<void>()
    const running = yield* Effect.forkChild(interactiveTurn("acme")(Deferred.await(held)))
    yield* Effect.sleep("50 millis")

    for (const [path, body] of [["/v1/audiences/preview", audience("acme")], ["/v1/traits/preview", trait("acme")]] as const) {
      const busy = yield* callApi(url, "POST", path, TEST_ADMIN_TOKEN, body)
      expect(busy.status).toBe(429)
      expect(busy.headers["retry-after"]).toBe("5")
      expect(busy.body).toEqual({
        success: false, rule: "preview_busy", error: "tenant acme already has 1 preview running (the limit per tenant); retry when it finishes",
      })
      checkResponse(path, "POST", busy.status, busy.body)
    }
    expect((yield* callApi(url, "POST", "/v1/audiences/preview", TEST_ADMIN_TOKEN, audience("globex"))).status).toBe(200)
    expect((yield* callApi(url, "POST", "/v1/traits/preview", TEST_ADMIN_TOKEN, trait("globex"))).status).toBe(200)

    yield* Deferred.succeed(held, undefined)
    yield* Fiber.join(running)
    expect((yield* callApi(url, "POST", "/v1/audiences/preview", TEST_ADMIN_TOKEN, audience("acme"))).status).toBe(200)
  })), 60_000)
