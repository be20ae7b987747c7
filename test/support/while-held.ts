// Test support: whether work (an erasure) ends while other work is held at a gate (gated-warehouse.ts), told by whether
// it goes on making progress, not by a guess at how long it takes on this machine.
import { Effect, Fiber } from "effect"
import { type QueryOptions, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"

/**
 * How long the work may run no warehouse statement (none begins or ends) before it counts as waiting. Work held at a
 * gate never ends before the test releases it, so work that waits for it stops making statements for good. An erasure
 * of a small tenant makes about 380, at most 1.1 s apart (its wait for outdated parts) at load 26 on 2 cores, while its
 * whole run took 5 s alone, 35 s beside 12 busy processes and 90 s at load 25 (a 15 s bound on it failed under load).
 */
const STALLED_AFTER_MS = 60_000

/** A test timeout that leaves room for the work's run and what follows the release, on a loaded machine. */
export const WHILE_HELD_TEST_TIMEOUT = 480_000

export interface WatchedWork<A, E> {
  readonly fiber: Fiber.Fiber<A, E>
  /**
   * True once the work has ended (call before releasing the gate); false once it has gone STALLED_AFTER_MS without a
   * warehouse statement: it waits for something, the held work.
   */
  readonly endsWhileHeld: Effect.Effect<boolean, E>
}

/** Forks `work` with the context's warehouse watched: each statement it begins or ends is progress. */
export const forkWatched = <A, E, R>(work: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const real = yield* Warehouse
    let last = Date.now()
    const progress = Effect.sync(() => { last = Date.now() })
    const watched = <B, F>(statement: Effect.Effect<B, F>) => Effect.andThen(progress, statement).pipe(Effect.ensuring(progress))
    const warehouse: WarehouseShape = {
      ...real,
      insert: (table, rows) => watched(real.insert(table, rows)),
      query: <T>(sql: string, options?: QueryOptions) => watched(real.query<T>(sql, options)),
      command: (sql, params) => watched(real.command(sql, params)),
    }
    const fiber = yield* work.pipe(Effect.provideService(Warehouse, warehouse), Effect.forkChild)
    const stalled = Effect.gen(function* () {
      while (Date.now() - last < STALLED_AFTER_MS) yield* Effect.sleep("1 second")
      return false
    })
    const endsWhileHeld = Effect.raceFirst(Effect.as(Fiber.join(fiber), true), stalled)
    return { fiber, endsWhileHeld } satisfies WatchedWork<A, E>
  })
