// A relations compute beside an erasure of the same tenant: the compute reads every profile's history first (a minute
// at a million events), so an erasure must not wait for that read, and scores read before the erasure must not store
// the erased person's profile id after it.
import { Deferred, Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../../consent/keys.ts"
import { eraseSubject, verifyErased } from "../../../consent/registry.ts"
import { resolveSubject } from "../../../consent/subject.ts"
import { computeRelations, DEFAULT_RELATIONS_CONFIG } from "../../../identity/relations/index.ts"
import { noteErasedProfiles } from "../../../warehouse/erasure.ts"
import { Warehouse, type WarehouseShape } from "../../../warehouse/warehouse.ts"
import { gatedWarehouse } from "../../support/gated-warehouse.ts"
import { freshDir, query, removeDir } from "../../support/pipeline.ts"
import { forkWatched, WHILE_HELD_TEST_TIMEOUT } from "../../support/while-held.ts"
import { submit, web, withConsent } from "../../consent/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a relations compute beside an erasure", () => {
  it("the erasure does not wait for the compute's read, and the scores stored after it leave the erased person out", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("ann-1", "2024-10-01T10:00:00.000Z", { userId: "ann", event: "Order Completed", properties: { total: 40 } }),
        web("ann-2", "2024-10-20T10:00:00.000Z", { userId: "ann", event: "Product Viewed" }),
        web("bob-1", "2024-10-05T10:00:00.000Z", { userId: "bob", event: "Order Completed", properties: { total: 12 } }),
        web("bob-2", "2024-10-25T10:00:00.000Z", { userId: "bob", event: "Product Viewed" }),
      ])
      const subject = yield* resolveSubject("acme", "user_id:ann")
      const ann = subject.profileIds[0]!

      // The compute has read the histories (ann's among them) and is held before it scores and stores them.
      const gate = yield* gatedWarehouse({ query: (sql) => sql.includes("relation_voice_daily"), afterQuery: true, armed: true })
      const computing = yield* computeRelations({ tenant: "acme", asOf: "2024-11-01", config: DEFAULT_RELATIONS_CONFIG }).pipe(
        Effect.provideService(Warehouse, gate.warehouse), Effect.forkChild)
      yield* Deferred.await(gate.reached)
      const erasure = yield* forkWatched(eraseSubject(subject).pipe(Effect.exit))
      const endedWhileHeld = yield* erasure.endsWhileHeld
      yield* gate.release
      const run = yield* Fiber.join(computing)
      const erased = yield* Fiber.join(erasure.fiber)

      expect(endedWhileHeld).toBe(true)
      expect(erased._tag).toBe("Success")
      const rows = yield* query<{ profile_id: string }>("SELECT profile_id FROM relation_scores FINAL WHERE tenant = 'acme'")
      expect(rows.map((r) => r.profile_id)).not.toContain(ann)
      expect(rows.length).toBe(1) // bob's
      expect(run.profiles).toBe(1)
      expect(yield* verifyErased(subject)).toEqual([])
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7))))), WHILE_HELD_TEST_TIMEOUT)

  it("reads again when more erasures ran during its read than the process keeps track of, and stores the run", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("cy-1", "2024-10-01T10:00:00.000Z", { userId: "cy", event: "Order Completed", properties: { total: 40 } }),
        web("di-1", "2024-10-05T10:00:00.000Z", { userId: "di", event: "Product Viewed" }),
      ])
      const gate = yield* gatedWarehouse({ query: (sql) => sql.includes("relation_voice_daily"), afterQuery: true, armed: true })
      let reads = 0
      const counted: WarehouseShape = {
        ...gate.warehouse,
        query: (sql, options) => { if (sql.includes("relation_voice_daily")) reads++; return gate.warehouse.query(sql, options) },
      }
      const computing = yield* computeRelations({ tenant: "acme", asOf: "2024-11-01", config: DEFAULT_RELATIONS_CONFIG }).pipe(
        Effect.provideService(Warehouse, counted), Effect.exit, Effect.forkChild)
      yield* Deferred.await(gate.reached)
      // Erasures of other people of the tenant, more than the process keeps: whom they removed can no longer be told.
      for (let i = 0; i < 300; i++) noteErasedProfiles("acme", [`prof_someone${i}`])
      yield* gate.release
      const run = yield* Fiber.join(computing)

      expect(run._tag).toBe("Success")
      expect(reads).toBe(2)
      if (run._tag === "Success") expect(run.value.profiles).toBe(2)
      const rows = yield* query<{ n: string }>("SELECT count() AS n FROM relation_scores FINAL WHERE tenant = 'acme'")
      expect(Number(rows[0]!.n)).toBe(2)
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7))))), 90_000)
})
