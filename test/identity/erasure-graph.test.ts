// An erasure takes the person out of the running identity graph. It reloaded every tenant's graph under the stage's
// one lock, on the pipeline's connection, so every tenant's landing waited for it (6.4 and 11.8 s seen on cdp serve
// while another tenant's erasure ran). Now the erasure first forgets the person's identifiers in their tenant's graph
// (under the lock, a scan of that graph: no batch meanwhile joins a message to them), and once their rows are gone
// reloads that tenant alone, loaded beside the batches and put in place under the lock.
import { Deferred, Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { defaultIdentityConfig, makeIdentityStage } from "../../identity/stage.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { loadLatestSnapshot } from "../../warehouse/identity-snapshots.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { eventOn } from "../support/events.ts"
import { gatedWarehouse } from "../support/gated-warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const profiles = (outcomes: ReadonlyArray<{ _tag: string }>) =>
  outcomes.map((o) => (o._tag === "ok" ? (o as unknown as { value: CanonicalEvent }).value.profileId : o._tag))

const identify = (tenant: string, id: string, day: number, fields: Partial<CanonicalEvent>) => eventOn(id, day, { tenant, type: "identify", ...fields })

describe("an erasure in the running identity graph", () => {
  it("forgets the person's identifiers at once, and reloads their tenant alone: no other tenant's batch waits for the load", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const real = yield* Warehouse
      // Once armed, the next read of stored observations (the tenant's reload loading its graph) waits until released.
      const gate = yield* gatedWarehouse()
      const identity = yield* makeIdentityStage(defaultIdentityConfig()).pipe(Effect.provideService(Warehouse, gate.warehouse))
      const [ann, cara, bob] = profiles(yield* identity.stage([
        identify("acme", "ann1", 1, { userId: "ua", anonymousId: "anon-a", traits: { email: "ann@a.example" } }),
        identify("acme", "cara1", 1, { userId: "uc", traits: { email: "cara@a.example" } }),
        identify("globex", "bob1", 1, { userId: "ub", traits: { email: "bob@b.example" } }),
      ]))
      // A second message of Ann's, on her browser only: her graph part holds two messages.
      expect(profiles(yield* identity.stage([identify("acme", "ann2", 2, { anonymousId: "anon-a" })]))).toEqual([ann])

      const forgotten = yield* identity.forget("acme", { profileIds: [ann!], keys: ["email:ann@a.example", "user_id:ua", "anonymous_id:anon-a"] })
      expect(forgotten, "identifiers taken out of acme's graph").toBe(3)
      // From now on nothing joins her, before any reload: her browser is a stranger to the graph, and joins Cara when it
      // states her address (a browser of Ann's would have tied the two, or been refused a second user id).
      const meanwhile = profiles(yield* identity.stage([identify("acme", "v1", 3, { anonymousId: "anon-a", traits: { email: "cara@a.example" } })]))
      expect(meanwhile).toEqual([cara])

      // The erasure deletes her rows, then reloads acme alone.
      yield* real.command("DELETE FROM identity_observations WHERE tenant = 'acme' AND message_id IN ('ann1', 'ann2', 'v1')")
      gate.arm()
      const reload = yield* Effect.forkChild(identity.reloadTenant("acme"))
      yield* Deferred.await(gate.reached)
      // While acme loads, globex lands, and so does acme itself (the lock is taken only to put the graph in place).
      const globex = yield* identity.stage([identify("globex", "bob2", 4, { anonymousId: "anon-b", traits: { email: "bob@b.example" } })])
        .pipe(Effect.timeoutOption("10 seconds"))
      const acme = yield* identity.stage([identify("acme", "cara2", 4, { anonymousId: "anon-c", traits: { email: "cara@a.example" } })])
        .pipe(Effect.timeoutOption("10 seconds"))
      yield* gate.release
      yield* Fiber.join(reload)

      expect(globex._tag === "Some" ? profiles(globex.value) : "waited for acme's reload").toEqual([bob])
      expect(acme._tag === "Some" ? profiles(acme.value) : "waited for acme's reload").toEqual([cara])
      // After the reload: her address leads to nobody, the others' browsers to their people.
      const after = profiles(yield* identity.stage([
        identify("acme", "x1", 5, { anonymousId: "anon-x", traits: { email: "ann@a.example" } }),
        identify("acme", "x2", 5, { anonymousId: "anon-c" }), identify("globex", "x3", 5, { anonymousId: "anon-b" }),
      ]))
      expect(after[0]).not.toBe(ann)
      expect(after.slice(1)).toEqual([cara, bob])
      // The snapshot written by the reload holds none of her identifiers, nor anything forgotten.
      const snapshot = yield* loadLatestSnapshot()
      const text = Buffer.from(snapshot!.bytes).toString("latin1")
      expect(text.includes("cara@a.example"), "the snapshot's strings are readable in its bytes").toBe(true)
      for (const value of ["ann@a.example", "anon-a", "\u0000forgotten"]) expect(text.includes(value), value).toBe(false)
    })), 60_000)

  it("a reload of the tenant that read before the erasure forgot the person is put in without them, and its snapshot holds none of their identifiers", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const real = yield* Warehouse
      // The next read of stored observations waits once it has answered: the reload has Ann's rows in hand.
      const gate = yield* gatedWarehouse({ query: (sql) => sql.includes("FROM identity_observations"), afterQuery: true })
      const identity = yield* makeIdentityStage(defaultIdentityConfig()).pipe(Effect.provideService(Warehouse, gate.warehouse))
      const [ann, cara] = profiles(yield* identity.stage([
        identify("acme", "ann1", 1, { userId: "ua", anonymousId: "anon-a", traits: { email: "ann@a.example" } }),
        identify("acme", "cara1", 1, { userId: "uc", traits: { email: "cara@a.example" } }),
      ]))
      // An operator's reload of acme (after a decision) reads acme's graph, Ann's identifiers with it...
      gate.arm()
      const operators = yield* Effect.forkChild(identity.reloadTenant("acme"))
      yield* Deferred.await(gate.reached)
      // ... and Ann's erasure forgets her and deletes her rows meanwhile; its own reload has not been put in yet.
      yield* identity.forget("acme", { profileIds: [ann!], keys: ["email:ann@a.example", "user_id:ua", "anonymous_id:anon-a"] })
      yield* real.command("DELETE FROM identity_observations WHERE tenant = 'acme' AND message_id = 'ann1'")
      yield* gate.release
      yield* Fiber.join(operators)

      // The graph the operator's reload put in place joins nothing to her: her address, from a new browser, is a stranger.
      const after = profiles(yield* identity.stage([
        identify("acme", "x1", 2, { anonymousId: "anon-x", traits: { email: "ann@a.example" } }),
        identify("acme", "x2", 2, { userId: "uc" }),
      ]))
      expect(after[0]).not.toBe(ann)
      expect(after[1]).toBe(cara)
      const snapshot = yield* loadLatestSnapshot()
      const text = Buffer.from(snapshot!.bytes).toString("latin1")
      expect(text.includes("cara@a.example"), "the snapshot's strings are readable in its bytes").toBe(true)
      for (const value of ["ann@a.example", "anon-a"]) expect(text.includes(value), value).toBe(false)
    })), 60_000)
})
