// The token bucket of a destination: a burst at once, then the rate; a pause holds every taker.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { makeTokenBucket } from "../../ingest/destinations/token-bucket.ts"

const timed = (program: Effect.Effect<unknown>) =>
  Effect.gen(function* () {
    const started = Date.now()
    yield* program
    return Date.now() - started
  })
const elapsed = (program: Effect.Effect<unknown>) => Effect.runPromise(timed(program))

describe("token bucket", () => {
  it("lets a burst through at once, then no more than the rate", async () => {
    const created = Date.now()
    const bucket = makeTokenBucket(20, 3)
    expect(await elapsed(Effect.repeat(bucket.take, { times: 2 }))).toBeLessThan(40)
    // Three more at 20 per second: at least 150 ms after the bucket was made. Counted from then, not from the burst's
    // end, since the bucket refills while the burst is taken (on a busy machine that took 15 ms: 135 ms were left).
    // Lower bound only: a busy machine is slower, never faster.
    await elapsed(Effect.repeat(bucket.take, { times: 2 }))
    expect(Date.now() - created).toBeGreaterThanOrEqual(149)
  })

  it("holds every taker for a pause (a 429's Retry-After)", async () => {
    const bucket = makeTokenBucket(1000, 10)
    // Counted from the pause, not from each take's start: on a loaded machine the takes started 11 ms after it and a
    // take-timed check (>= 190) failed at 189 with the pause kept exactly (1 ms of clock rounding allowed).
    const paused = Date.now()
    bucket.pause(200)
    const times = await Effect.runPromise(Effect.forEach([1, 2, 3], () => bucket.take.pipe(Effect.map(() => Date.now() - paused)), { concurrency: "unbounded" }))
    for (const t of times) expect(t).toBeGreaterThanOrEqual(199)
  })

  it("counts a pause from when the answer asking for it arrived, not from when it was handled (logging it is part of the wait)", async () => {
    const bucket = makeTokenBucket(1000, 10)
    // The answer came 150 ms ago asking for 200 ms: 50 ms are left (not 200 more).
    bucket.pause(200, Date.now() - 150)
    const waited = await elapsed(bucket.take)
    expect(waited).toBeGreaterThanOrEqual(40)
    expect(waited).toBeLessThan(150)
  })
})
