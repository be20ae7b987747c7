// Test support: watching mutations (ALTER TABLE ... DELETE / UPDATE, DELETE FROM) on the embedded engine. A mutation
// must not hold the engine's one connection while it rewrites parts (a small read meanwhile answers at once), and one
// that fails or is interrupted must not be left in the table, where it blocks the table's later mutations.
import { Effect, Fiber } from "effect"
import { Warehouse } from "../../warehouse/warehouse.ts"

/** Mutations of the table not done, or failing (a mutation that failed for good blocks the table's later ones). */
export const unfinished = (table: string) => Effect.gen(function* () {
  const w = yield* Warehouse
  return yield* w.query<{ mutation_id: string; is_done: number; latest_fail_reason: string }>(
    "SELECT mutation_id, is_done, latest_fail_reason FROM system.mutations WHERE database = currentDatabase() AND table = {table:String} " +
      "AND (NOT is_done OR latest_fail_reason != '')", { params: { table } })
})

/** Runs `effect` while a small read runs every 10 ms: how long it took, and the longest any of those reads waited. */
export const readsMeanwhile = <A, E>(effect: Effect.Effect<A, E, Warehouse>) => Effect.gen(function* () {
  const w = yield* Warehouse
  let longest = 0
  let reads = 0
  let stop = false
  const reader = yield* Effect.forkChild(Effect.gen(function* () {
    while (!stop) {
      const started = performance.now()
      yield* w.query("SELECT 1")
      longest = Math.max(longest, performance.now() - started)
      reads++
      yield* Effect.sleep("10 millis")
    }
  }))
  yield* Effect.sleep("30 millis")
  const started = performance.now()
  const result = yield* effect
  const took = performance.now() - started
  // The read still waiting when the effect ends counts too.
  stop = true
  yield* Fiber.join(reader)
  console.log(`took ${Math.round(took)} ms; the longest of ${reads} small reads meanwhile waited ${Math.round(longest)} ms`)
  return { result, took, longest }
})

/** Waits (up to 10 s) until a mutation of `table` is listed as running: true if one was. */
export const mutationRunning = (table: string) => Effect.gen(function* () {
  for (let i = 0; i < 2_000; i++) {
    if ((yield* unfinished(table)).some((m) => Number(m.is_done) === 0)) return true
    yield* Effect.sleep("5 millis")
  }
  return false
})
