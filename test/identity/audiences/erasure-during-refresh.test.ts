// An erasure and an audience refresh of the same tenant at once: a refresh that read the members before the erasure
// and evaluated them after it must not store the erased person back into audience_members or audience_changes.
import { Deferred, Effect, Fiber, Option } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../../consent/keys.ts"
import { eraseSubject, verifyErased } from "../../../consent/registry.ts"
import { resolveSubject } from "../../../consent/subject.ts"
import { createAudience, refreshAudiences } from "../../../identity/audiences/index.ts"
import { Warehouse } from "../../../warehouse/warehouse.ts"
import { gatedWarehouse } from "../../support/gated-warehouse.ts"
import { freshDir, query, removeDir } from "../../support/pipeline.ts"
import { withConsent } from "../../consent/support.ts"
import { AS_OF, landPeople, names } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("an erasure during an audience refresh", () => {
  it("leaves the erased person in no audience table, and the erasure completes", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      yield* createAudience("acme", { name: "Everyone with a city", purpose: "EmailMarketing", condition: { trait: "city", exists: true } }, "test")
      expect(yield* refreshAudiences({ tenant: "acme", asOfMs: AS_OF })).toMatchObject({ entered: 2 })
      const bob = [...(yield* names)].find(([, u]) => u === "bob")![0]
      const subject = yield* resolveSubject("acme", "user_id:bob")

      // The refresh has read the stored members (bob among them) and waits before its evaluation.
      const gate = yield* gatedWarehouse((sql) => sql.includes(" AS consenting"))
      gate.arm()
      const refresh = yield* refreshAudiences({ tenant: "acme", asOfMs: AS_OF }).pipe(
        Effect.provideService(Warehouse, gate.warehouse), Effect.forkChild)
      yield* Deferred.await(gate.reached)
      const erasure = yield* eraseSubject(subject).pipe(Effect.exit, Effect.forkChild)
      // Let the erasure run as far as it can while the refresh waits (to its end, unless it waits for the refresh).
      yield* Fiber.join(erasure).pipe(Effect.timeoutOption("15 seconds"), Effect.map(Option.isSome))
      yield* gate.release
      yield* Fiber.join(refresh)
      const erased = yield* Fiber.join(erasure)

      expect(erased._tag).toBe("Success")
      const count = (table: string) =>
        Effect.map(query<{ n: string }>(`SELECT count() AS n FROM ${table} WHERE profile_id = {p:String}`, { p: bob }), (r) => Number(r[0]!.n))
      expect(yield* count("audience_members")).toBe(0)
      expect(yield* count("audience_changes")).toBe(0)
      expect(yield* verifyErased(subject)).toEqual([])
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7))))), 90_000)
})
