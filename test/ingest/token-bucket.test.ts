// The token bucket of a destination: a burst at once, then the rate; a pause holds every taker.
// On a test clock: the bucket's time is the clock's, and its waits end only when the test moves the clock, so each take
// is seen to end at an exact time. Bounds in wall time failed on loaded machines (a burst "at once" within 40 ms).
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import { makeTokenBucket, type TokenBucket } from "../../ingest/destinations/token-bucket.ts"

/** Runs `test` on a test clock; `now` is the clock's time, for the bucket. */
const onTestClock = (test: (now: () => number) => Effect.Effect<void>) =>
  Effect.runPromise(TestClock.testClockWith((clock) => test(() => clock.currentTimeMillisUnsafe())).pipe(Effect.provide(TestClock.layer())))

/** Runs `program`, moving the clock a millisecond at a time until it ends. */
const untilDone = <A>(program: Effect.Effect<A>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(program)
    for (let ms = 0; ms <= 10_000; ms++) {
      yield* Effect.yieldNow
      if (fiber.pollUnsafe() !== undefined) return yield* Fiber.join(fiber)
      yield* TestClock.adjust("1 millis")
    }
    return yield* Effect.die(new Error("not done after 10 s of the test clock"))
  })

/** The clock's time when a take ends. */
const takenAt = (bucket: TokenBucket, now: () => number) => Effect.map(bucket.take, () => now())

describe("token bucket", () => {
  it("lets a burst through at once, then no more than the rate", () =>
    onTestClock((now) => Effect.gen(function* () {
      const bucket = makeTokenBucket(20, 3, now)
      const created = now()
      // Three at once, then one every 50 ms (20 per second).
      const times = yield* untilDone(Effect.forEach([1, 2, 3, 4, 5, 6], () => takenAt(bucket, now)))
      expect(times.map((t) => t - created)).toEqual([0, 0, 0, 50, 100, 150])
    })))

  it("holds every taker for a pause (a 429's Retry-After)", () =>
    onTestClock((now) => Effect.gen(function* () {
      const bucket = makeTokenBucket(1000, 10, now)
      const paused = now()
      bucket.pause(200)
      const times = yield* untilDone(Effect.all([1, 2, 3].map(() => takenAt(bucket, now)), { concurrency: "unbounded" }))
      expect(times.map((t) => t - paused)).toEqual([200, 200, 200])
    })))

  it("counts a pause from when the answer asking for it arrived, not from when it was handled (logging it is part of the wait)", () =>
    onTestClock((now) => Effect.gen(function* () {
      const bucket = makeTokenBucket(1000, 10, now)
      yield* TestClock.adjust("1 second")
      // The answer came 150 ms ago asking for 200 ms: 50 ms are left (not 200 more).
      const handled = now()
      bucket.pause(200, handled - 150)
      expect((yield* untilDone(takenAt(bucket, now))) - handled).toBe(50)
    })))
})
