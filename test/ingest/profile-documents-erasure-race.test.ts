// An erasure while the document keeper builds its tenant's documents: a build that read the person before the
// erasure must not store their document after the erasure emptied the tenant's documents.
import { Deferred, Effect, Fiber, Option } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject, verifyErased } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { DocumentKeeper } from "../../ingest/profile-documents.ts"
import { gatedWarehouse } from "../support/gated-warehouse.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { submit, web, withConsent } from "../consent/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("the document keeper beside an erasure", () => {
  it("stores no document of the erased person once the erasure has run", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("ann-1", 1, { userId: "ann", type: "identify", event: "", traits: { email: "ann@x.example", city: "Leeds" } }),
        web("ann-2", 2, { userId: "ann", event: "Order Completed" }),
        web("bob-1", 3, { userId: "bob", type: "identify", event: "", traits: { city: "York" } }),
      ])
      const subject = yield* resolveSubject("acme", "user_id:ann")
      const ann = subject.profileIds[0]!

      // The keeper has read the tenant's documents (ann's among them) and waits before storing them.
      const gate = yield* gatedWarehouse((sql) => sql.includes("AS owner FROM"))
      gate.arm()
      const keeper = new DocumentKeeper(gate.warehouse)
      keeper.hear({ all: false, tenants: new Set(["acme"]), keys: new Set() })
      yield* Deferred.await(gate.reached)
      const erasure = yield* eraseSubject(subject).pipe(Effect.exit, Effect.forkChild)
      // Let the erasure run as far as it can meanwhile (to its end, unless it waits for the build).
      yield* Fiber.join(erasure).pipe(Effect.timeoutOption("15 seconds"), Effect.map(Option.isSome))
      yield* gate.release
      const erased = yield* Fiber.join(erasure)
      // As cdp serve's keeper hears the erasure's writes: the tenant's documents are built again.
      keeper.hear({ all: false, tenants: new Set(["acme"]), keys: new Set() })
      for (let i = 0; i < 600 && !keeper.idle; i++) yield* Effect.sleep("50 millis")
      expect(keeper.idle).toBe(true)

      expect(erased._tag).toBe("Success")
      const docs = yield* query<{ profile_id: string }>("SELECT profile_id FROM profile_documents FINAL WHERE tenant = 'acme'")
      expect(docs.map((d) => d.profile_id)).not.toContain(ann)
      expect(docs.length).toBeGreaterThan(0) // bob's
      expect(yield* verifyErased(subject)).toEqual([])
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7))))), 90_000)
})
