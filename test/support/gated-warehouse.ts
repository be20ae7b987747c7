// Test support: a warehouse whose next statement matching a test's predicate, once armed, waits until the test releases
// it (a reload held in its load while batches go on; a job held between its read and its write while an erasure
// runs), over the real embedded engine.
import { Deferred, Effect } from "effect"
import { type QueryOptions, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"

export interface GatedWarehouse {
  readonly warehouse: WarehouseShape
  /** Makes the next matching statement wait (once). */
  readonly arm: () => void
  /** Done when the armed statement has begun waiting. */
  readonly reached: Deferred.Deferred<void>
  /** Lets it run. */
  readonly release: Effect.Effect<void>
}

/** Which statement waits: a read whose SQL matches (before it runs, or once it has answered), or an insert into a table. */
export interface Gate {
  readonly query?: (sql: string) => boolean
  /** The matching read waits once it has answered (what it read is in hand), not before it runs. */
  readonly afterQuery?: boolean
  readonly insert?: (table: string) => boolean
  /** Armed from the start (otherwise `arm()` arms it). */
  readonly armed?: boolean
}

/**
 * The context's warehouse, gated on the reads `matches` names (by default every read of stored identity observations),
 * or as a Gate says.
 */
export const gatedWarehouse = (matches: ((sql: string) => boolean) | Gate = (sql) => sql.includes("FROM identity_observations")) =>
  Effect.gen(function* () {
    const gate: Gate = typeof matches === "function" ? { query: matches } : matches
    const real = yield* Warehouse
    let armed = gate.armed === true
    const reached = yield* Deferred.make<void>()
    const released = yield* Deferred.make<void>()
    const hold = Effect.andThen(Deferred.succeed(reached, undefined), Deferred.await(released))
    const take = (matched: boolean) => {
      if (!armed || !matched) return false
      armed = false
      return true
    }
    const warehouse: WarehouseShape = {
      ...real,
      query: <T>(sql: string, options?: QueryOptions) => {
        if (!take(gate.query?.(sql) === true)) return real.query<T>(sql, options)
        return gate.afterQuery === true ? Effect.tap(real.query<T>(sql, options), () => hold) : Effect.andThen(hold, real.query<T>(sql, options))
      },
      insert: (table, rows) => take(gate.insert?.(table) === true) ? Effect.andThen(hold, real.insert(table, rows)) : real.insert(table, rows),
    }
    return { warehouse, arm: () => { armed = true }, reached, release: Deferred.succeed(released, undefined).pipe(Effect.asVoid) } satisfies GatedWarehouse
  })
