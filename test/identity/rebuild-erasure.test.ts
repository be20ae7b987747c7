// An identity rebuild of a tenant beside an erasure there: a rebuild that read the observations before the erasure
// must not store the erased person's identifiers (identity_nodes, identity_links) after it, and the erasure must not wait
// for the rebuild.
import { Deferred, Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject, verifyErased } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { defaultIdentityConfig, rebuildIdentity } from "../../identity/index.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { gatedWarehouse } from "../support/gated-warehouse.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { forkWatched, WHILE_HELD_TEST_TIMEOUT } from "../support/while-held.ts"
import { submit, web, withConsent } from "../consent/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("an identity rebuild beside an erasure", () => {
  it("stores none of the erased person's identifiers once the erasure has run", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("ann-1", 1, { userId: "ann", anonymousId: "ann-browser", type: "identify", event: "", traits: { email: "ann@x.example" } }),
        web("bob-1", 2, { userId: "bob", anonymousId: "bob-browser", type: "identify", event: "", traits: { email: "bob@x.example" } }),
      ])
      const subject = yield* resolveSubject("acme", "user_id:ann")

      // The rebuild has read acme's observations (ann's among them) and waits before storing what it resolved.
      const gate = yield* gatedWarehouse((sql) => sql.startsWith("SELECT message_id, profile_id FROM events WHERE tenant"))
      gate.arm()
      const rebuild = yield* rebuildIdentity(defaultIdentityConfig(), "acme").pipe(Effect.provideService(Warehouse, gate.warehouse), Effect.forkChild)
      yield* Deferred.await(gate.reached)
      const erasure = yield* forkWatched(eraseSubject(subject).pipe(Effect.exit))
      // The erasure does not wait for the rebuild (a large tenant's takes minutes): it ends while the rebuild is held.
      const endedWhileHeld = yield* erasure.endsWhileHeld
      yield* gate.release
      const rebuilt = yield* Fiber.join(rebuild)
      const erased = yield* Fiber.join(erasure.fiber)

      expect(endedWhileHeld).toBe(true)
      expect(erased._tag).toBe("Success")
      // It read again after the erasure: bob's messages only.
      expect(rebuilt.tenants.map((t) => [t.tenant, t.messages])).toEqual([["acme", 1]])
      const values = (yield* query<{ value: string }>("SELECT DISTINCT value FROM identity_nodes WHERE tenant = 'acme'")).map((r) => r.value)
      expect(values).not.toContain("ann@x.example")
      expect(values).not.toContain("ann")
      expect(values).toContain("bob@x.example")
      expect(yield* verifyErased(subject)).toEqual([])
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7))))), WHILE_HELD_TEST_TIMEOUT)
})
