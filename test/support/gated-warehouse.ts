// Test support: a warehouse whose next read matching a test's predicate, once armed, waits until the test releases
// it (a reload held in its load while batches go on), over the real embedded engine.
import { Deferred, Effect } from "effect"
import { type QueryOptions, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"

export interface GatedWarehouse {
  readonly warehouse: WarehouseShape
  /** Makes the next matching read wait (once). */
  readonly arm: () => void
  /** Done when the armed read has begun waiting. */
  readonly reached: Deferred.Deferred<void>
  /** Lets it run. */
  readonly release: Effect.Effect<void>
}

/** The context's warehouse, gated on the reads `matches` names (by default every read of stored identity observations). */
export const gatedWarehouse = (matches: (sql: string) => boolean = (sql) => sql.includes("FROM identity_observations")) =>
  Effect.gen(function* () {
    const real = yield* Warehouse
    let armed = false
    const reached = yield* Deferred.make<void>()
    const released = yield* Deferred.make<void>()
    const warehouse: WarehouseShape = {
      ...real,
      query: <T>(sql: string, options?: QueryOptions) => {
        if (!armed || !matches(sql)) return real.query<T>(sql, options)
        armed = false
        return Effect.andThen(Deferred.succeed(reached, undefined), Effect.andThen(Deferred.await(released), real.query<T>(sql, options)))
      },
    }
    return { warehouse, arm: () => { armed = true }, reached, release: Deferred.succeed(released, undefined).pipe(Effect.asVoid) } satisfies GatedWarehouse
  })
