// How long work on this event loop keeps it from everything else (in `cdp serve`: requests, health checks, other
// tenants' batches): the most CPU time this (main) thread spent between two turns of a 5 ms timer while `program`
// runs. CPU time, not wall time: on a loaded machine the thread also waits for a core, and a gap in wall time grows
// with the load (the same 20 ms slice took 80 ms at load 8 on 2 cores), while the work done without a turn does not.
// The engine's own threads (chDB runs queries off the main thread) are not counted: they hold no turn.
import { Effect } from "effect"

/** CPU time this thread has spent, in ms: what bounds on synchronous work compare, as it does not grow with the load. */
export const cpuMs = () => {
  const { user, system } = process.threadCpuUsage()
  return (user + system) / 1000
}

export const longestStall = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    let last = cpuMs()
    let longest = 0
    const timer = setInterval(() => {
      const now = cpuMs()
      longest = Math.max(longest, now - last)
      last = now
    }, 5)
    const result = yield* program.pipe(Effect.ensuring(Effect.sync(() => clearInterval(timer))))
    return { result, longestMs: Math.round(longest) }
  })
