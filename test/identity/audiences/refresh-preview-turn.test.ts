// The refresher's queries are background work, not previews: they take no turn of the tenant's previews
// (warehouse interactiveTurn) and no preview's time limit. Seen probing cdp serve: the refresh after each landed batch
// explains the profiles it touched, and that query took acme's one preview turn, so a marketer's audience or trait
// preview posted meanwhile was answered 429 preview_busy with no preview of acme running; and while a marketer's
// preview ran, the refresh failed instead ("audience not refreshed: tenant acme already has 1 preview running"), its
// entries and exits left for a later refresh.
import { Deferred, Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import {
  ConditionInvalid, createAudience, getAudience, parseCondition, previewAudience, refreshAudience, refreshAudienceProfiles,
} from "../../../identity/audiences/index.ts"
import { type QueryOptions, interactiveTurn, Warehouse, type WarehouseShape } from "../../../warehouse/warehouse.ts"
import { withConsent } from "../../consent/support.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { AS_OF, landPeople, profileOfUser } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ORDERS = { name: "Buyers", purpose: "EmailMarketing", condition: { event: "Order Completed", withinDays: 30 } }

describe("the audience refresher beside a tenant's previews", () => {
  it("refreshes whole and for some profiles while a preview of the tenant holds its turn", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const { id } = yield* createAudience("acme", ORDERS, "test")
      const ann = yield* profileOfUser("ann")
      const held = yield* Deferred.make<void>()
      const preview = yield* Effect.forkChild(interactiveTurn("acme")(Deferred.await(held)))
      yield* Effect.sleep("50 millis")

      // ann's orders (1-9 days before AS_OF) are in the window: she enters; bob's (40 days) is not.
      expect(yield* refreshAudienceProfiles(yield* getAudience("acme", id), [ann], undefined, AS_OF)).toEqual({ entered: 1, exited: 0 })
      // 60 days later her orders are out of the window: a full refresh explains her exit.
      expect(yield* refreshAudience(yield* getAudience("acme", id), undefined, AS_OF + 60 * 86_400_000)).toEqual({ entered: 0, exited: 1 })

      yield* Deferred.succeed(held, undefined)
      yield* Fiber.join(preview)
    })), 120_000)

  it("a preview of the tenant is answered while the refresher explains its profiles", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const { id } = yield* createAudience("acme", ORDERS, "test")
      const ann = yield* profileOfUser("ann")
      const real = yield* Warehouse
      const explaining = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // The refresher's explaining query (it names the profiles it asks about) waits until the preview was answered.
      const watched: WarehouseShape = {
        ...real,
        query: <T>(sql: string, options?: QueryOptions) =>
          options?.params?.["a_profiles"] === undefined
            ? real.query<T>(sql, options)
            : Effect.andThen(Effect.andThen(Deferred.succeed(explaining, undefined), Deferred.await(release)), real.query<T>(sql, options)),
      }
      const refresh = yield* Effect.forkChild(
        Effect.flatMap(getAudience("acme", id), (a) => refreshAudienceProfiles(a, [ann], undefined, AS_OF)).pipe(Effect.provideService(Warehouse, watched)))
      yield* Deferred.await(explaining)

      const condition = parseCondition(ORDERS.condition)
      if (condition instanceof ConditionInvalid) throw condition
      // Only ann has an order in the window.
      expect((yield* previewAudience("acme", "EmailMarketing", condition, 5, AS_OF)).count).toBe(1)
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.join(refresh)).toEqual({ entered: 1, exited: 0 })
    })), 120_000)
})
