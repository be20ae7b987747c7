// Long identity computations in slices. A tenant's whole history resolved at once (a rebuild, the reload after an
// operator's decision, a start) is seconds of JavaScript at a million messages; run in one go it would hold `cdp
// serve`'s event loop, so no request, health check or other tenant's batch is served meanwhile. Such a computation is
// written as a generator that pauses (a bare `yield`) every so many steps of its loops: `inSlices` runs it from an
// Effect and gives the event loop a turn whenever a slice has run SLICE_MS; `runSteps` runs it to the end at once
// (where nothing waits). Either way it is the same code and gives the same result.
import { Effect } from "effect"

/** A computation that may pause between its steps (`yield`), and returns an A. */
export type Steps<A> = Generator<void, A, void>

/** How long a slice runs before the event loop gets a turn: about how long a request waits for identity work. */
export const SLICE_MS = 20

/**
 * True every 256 steps of a loop: where it pauses (`if (pauseAt(i)) yield`). A step is a few microseconds, so a
 * slice overshoots SLICE_MS by a few milliseconds at most, and the clock is read rarely.
 */
export const pauseAt = (i: number): boolean => (i & 255) === 255

/** Runs the steps to the end at once. */
export const runSteps = <A>(steps: Steps<A>): A => {
  for (;;) {
    const next = steps.next()
    if (next.done === true) return next.value
  }
}

/** When the running slice began (shared: slices of several computations in one turn of the loop add up). */
let sliceStartedAt = 0

/**
 * Runs the steps, giving the event loop a turn whenever a slice has run SLICE_MS; first too, when what ran before
 * (a warehouse answer made into rows, say) already took that long, so the two do not add up.
 */
export const inSlices = <A>(steps: Steps<A>): Effect.Effect<A> =>
  Effect.gen(function* () {
    for (;;) {
      if (performance.now() - sliceStartedAt >= SLICE_MS) {
        yield* Effect.yieldNow
        sliceStartedAt = performance.now()
      }
      const next = steps.next()
      if (next.done === true) return next.value
    }
  })

/** Calls `f` on each item, pausing every so many. */
export function* eachStep<A>(items: Iterable<A>, f: (item: A) => void): Steps<void> {
  let i = 0
  for (const item of items) {
    f(item)
    if (pauseAt(i++)) yield
  }
}

/** `items.map(f)`, pausing every so many items (every `every`, when `f` is long: a power of two). */
export function* mapSteps<A, B>(items: ReadonlyArray<A>, f: (item: A) => B, every = 256): Steps<Array<B>> {
  const out = new Array<B>(items.length)
  for (let i = 0; i < items.length; i++) {
    out[i] = f(items[i]!)
    if ((i & (every - 1)) === every - 1) yield
  }
  return out
}

/** Items sorted natively at a time (a few milliseconds); longer runs are merged in steps. */
const SORTED_RUN = 2048

/**
 * Sorts `items` in place as `items.sort(compare)` does (stably: equal items keep their order), pausing: runs of
 * SORTED_RUN sorted natively, then merged pairwise, left first on ties.
 */
export function* sortSteps<A>(items: Array<A>, compare: (x: A, y: A) => number): Steps<Array<A>> {
  const n = items.length
  if (n <= SORTED_RUN) return items.sort(compare)
  for (let lo = 0; lo < n; lo += SORTED_RUN) {
    const run = items.slice(lo, lo + SORTED_RUN).sort(compare)
    for (let i = 0; i < run.length; i++) items[lo + i] = run[i]!
    yield
  }
  let from = items
  let to = new Array<A>(n)
  let steps = 0
  for (let width = SORTED_RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n)
      const hi = Math.min(lo + 2 * width, n)
      let i = lo
      let j = mid
      for (let k = lo; k < hi; k++) {
        to[k] = j >= hi || i < mid && compare(from[i]!, from[j]!) <= 0 ? from[i++]! : from[j++]!
        if (pauseAt(steps++)) yield
      }
    }
    const swap = from
    from = to
    to = swap
  }
  if (from !== items) for (let i = 0; i < n; i++) items[i] = from[i]!
  return items
}
