// Test support: how long small reads wait for a warehouse connection while other work runs, told apart from the event
// loop's stalls meanwhile. A small read's whole time also holds the slices of the work's JavaScript (a resolve, the
// serialising of an insert, the parse of a big answer) that ran before its answer was taken: under load they grew to
// most of it (650 ms at load 12 on 2 cores beside a rebuild), and a bound on the whole time failed by chance.
import { Effect, Fiber } from "effect"
import { Warehouse } from "../../warehouse/warehouse.ts"

/** A gap between two ticks of a 5 ms timer longer than this is the event loop held (or the process not run) meanwhile. */
const STALL_AFTER_MS = 10

/**
 * Runs `effect` while `read` (by default SELECT 1, on the pipeline's connection) runs every 10 ms: how long the effect
 * took, its result, and the longest any of those reads waited for its connection, which is its time less the event
 * loop's stalls meanwhile (the *-event-loop tests bound those), as a 5 ms timer sees them; `whole`, the longest of their
 * whole times. Gaps of the timer also come from the process not being run on a loaded machine, beside a statement of
 * the engine's threads too: behind one statement over a whole table, the connection wait was 55% of the whole time
 * (load 7), so a work that is one statement at fault is told better by `whole`.
 */
export const connectionWaits = <A, E, E2 = never>(effect: Effect.Effect<A, E, Warehouse>, read?: Effect.Effect<unknown, E2, Warehouse>) => Effect.scoped(Effect.gen(function* () {
  const w = yield* Warehouse
  const small = read ?? w.query("SELECT 1")
  const ticks: Array<number> = [performance.now()]
  yield* Effect.acquireRelease(Effect.sync(() => setInterval(() => ticks.push(performance.now()), 5)), (timer) => Effect.sync(() => clearInterval(timer)))
  const reads: Array<readonly [number, number]> = []
  let stop = false
  const reader = yield* Effect.forkChild(Effect.gen(function* () {
    while (!stop) {
      const started = performance.now()
      yield* small
      reads.push([started, performance.now()])
      yield* Effect.sleep("10 millis")
    }
  }))
  yield* Effect.sleep("30 millis")
  const started = performance.now()
  const result = yield* effect.pipe(Effect.ensuring(Effect.sync(() => { stop = true })))
  const took = performance.now() - started
  yield* Fiber.join(reader)
  ticks.push(performance.now())
  const stalled = (from: number, to: number) => {
    let ms = 0
    for (let i = 1; i < ticks.length; i++) ms += Math.max(0, Math.min(to, ticks[i]!) - Math.max(from, ticks[i - 1]! + STALL_AFTER_MS))
    return ms
  }
  const longest = Math.max(0, ...reads.map(([from, to]) => to - from - stalled(from, to)))
  const whole = Math.max(0, ...reads.map(([from, to]) => to - from))
  console.log(`took ${Math.round(took)} ms; the longest of ${reads.length} small reads meanwhile waited ${Math.round(longest)} ms for the connection ` +
    `(the longest took ${Math.round(whole)} ms with the event loop's stalls)`)
  return { result, took, longest, whole }
}))
