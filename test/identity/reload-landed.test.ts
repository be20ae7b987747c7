// A tenant's graph reload (after its operator's decision, or a rebuild in cdp serve) loads apart while batches go on,
// then is put in place under the stage's lock with what landed meanwhile. That was read again under the lock, on the
// pipeline's connection, from a minute before the load began: seen on cdp serve, a batch waited 4.8 s after a rebuild
// of a flooding tenant. Alone (the in-process bus) the stage hands the reload what it stores meanwhile, added before
// the lock is taken, and every read the reload makes runs on the background connection.
import { Context, Deferred, Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { defaultIdentityConfig, makeIdentityStage } from "../../identity/stage.ts"
import { BackgroundReads, type QueryOptions, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** Set on the reload's fiber: the test tells its statements from the batches'. */
const InReload = Context.Reference<boolean>("test/InReload", { defaultValue: () => false })

const profiles = (outcomes: ReadonlyArray<{ _tag: string }>) =>
  outcomes.map((o) => (o._tag === "ok" ? (o as unknown as { value: { profileId: string } }).value.profileId : o._tag))

const person = (id: string, userId: string, email: string) => eventOn(id, 1, { type: "identify", userId, traits: { email } })
const visitor = (id: string, email: string) => eventOn(id, 2, { type: "identify", anonymousId: id, traits: { email } })

describe("a tenant's graph reload", () => {
  it("reads no stored identity on the pipeline's connection, and keeps what landed while it loaded", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const real = yield* Warehouse
      const onPipeline: Array<string> = []
      // Once armed, the reload's first read of stored observations waits until released: batches land meanwhile.
      let armed = false
      const reached = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const watched: WarehouseShape = {
        ...real,
        query: <T>(sql: string, options?: QueryOptions) =>
          Effect.flatMap(Effect.all([Effect.service(InReload), Effect.service(BackgroundReads)]), ([inReload, background]) => {
            // Its reads of what is stored (a snapshot's cleanup, after, polls system.mutations: not a read of stored data).
            if (inReload && !background && sql.includes("identity_")) onPipeline.push(sql.slice(0, 120))
            if (!armed || !inReload || !sql.includes("FROM identity_observations")) return real.query<T>(sql, options)
            armed = false
            return Effect.andThen(Deferred.succeed(reached, undefined), Effect.andThen(Deferred.await(release), real.query<T>(sql, options)))
          }),
      }
      const identity = yield* makeIdentityStage(defaultIdentityConfig()).pipe(Effect.provideService(Warehouse, watched))
      const known = profiles(yield* identity.stage(Array.from({ length: 50 }, (_, i) => person(`k${i}`, `u${i}`, `k${i}@a.example`))))

      armed = true
      const reload = yield* Effect.forkChild(identity.reloadTenant("acme").pipe(Effect.provideService(InReload, true)))
      yield* Deferred.await(reached)
      // While it loads: new people, and a known person's second address.
      const landed = profiles(yield* identity.stage([
        ...Array.from({ length: 50 }, (_, i) => person(`n${i}`, `v${i}`, `n${i}@a.example`)),
        person("k3-again", "u3", "second@a.example"),
      ]))
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(reload)

      // The reloaded graph holds them: addresses that landed meanwhile lead to their people.
      const after = profiles(yield* identity.stage([visitor("x1", "n7@a.example"), visitor("x2", "second@a.example"), visitor("x3", "k9@a.example")]))
      expect(after).toEqual([landed[7], known[3], known[9]])
      expect(onPipeline, "reads of stored identity the reload ran on the pipeline's connection").toEqual([])
    })), 60_000)
})
