// A token bucket per tenant and destination: `ratePerSecond` requests on average, `burst` at once. A destination that
// says its budget is spent (429, X-HubSpot-RateLimit-Remaining: 0) pauses its bucket, so every batch of that
// destination waits, and no other destination does.
import { Effect } from "effect"

export interface TokenBucket {
  /** Waits for a token. */
  readonly take: Effect.Effect<void>
  /**
   * No token before `ms` after `fromMs` (default now): a Retry-After counts from when its answer arrived, so the time
   * spent handling the answer (logging its delivery) is part of the wait, not added to it.
   */
  readonly pause: (ms: number, fromMs?: number) => void
}

export const makeTokenBucket = (ratePerSecond: number, burst: number, now: () => number = Date.now): TokenBucket => {
  let tokens = burst
  let last = now()
  let pausedUntil = 0
  const refill = () => {
    const t = now()
    tokens = Math.min(burst, tokens + ((t - last) / 1000) * ratePerSecond)
    last = t
  }
  const take: Effect.Effect<void> = Effect.suspend(() => {
    const t = now()
    if (t < pausedUntil) return Effect.flatMap(Effect.sleep(pausedUntil - t), () => take)
    refill()
    if (tokens >= 1) {
      tokens -= 1
      return Effect.void
    }
    return Effect.flatMap(Effect.sleep(Math.ceil(((1 - tokens) / ratePerSecond) * 1000)), () => take)
  })
  return {
    take,
    pause: (ms, fromMs) => {
      pausedUntil = Math.max(pausedUntil, (fromMs ?? now()) + ms)
      tokens = 0
    },
  }
}

const buckets = new Map<string, TokenBucket>()

/** The process's bucket of a tenant's destination (one per pair, shared by every run in the process). */
export const bucketOf = (tenant: string, destination: string, ratePerSecond: number, burst: number): TokenBucket => {
  const key = `${tenant}\0${destination}\0${ratePerSecond}\0${burst}`
  let b = buckets.get(key)
  if (b === undefined) buckets.set(key, b = makeTokenBucket(ratePerSecond, burst))
  return b
}
