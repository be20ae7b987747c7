// How many of something each key (a tenant, a scope) holds at once, for caps like "one running analyst query per
// tenant", "two running data-subject requests per tenant" or "10,000 messages waiting to land per tenant": take turns
// if the key stays within its limit, give them back when done. And permits per key (keyedPermits, keyedLocks: one at
// a time), where a second must wait rather than be refused. And a turn of the event loop (nextTurn), which long work
// gives so that other work runs.
import { Effect, Semaphore } from "effect"

/** A turn of the event loop: I/O, timers and other fibers run before it resolves (setImmediate: after pending I/O). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export class TurnsPerKey {
  private readonly held = new Map<string, number>()

  /**
   * Takes `n` turns for `key` when it would then hold at most `limit`; false (nothing taken) when not. A key that
   * holds none is given its `n` even past `limit`, so what is bigger than the limit waits for its key's others but is
   * never refused for ever.
   */
  take(key: string, limit: number, n = 1): boolean {
    const mine = this.held.get(key) ?? 0
    if (mine > 0 && mine + n > limit) return false
    if (n > 0) this.held.set(key, mine + n)
    return true
  }

  /** How many keys hold turns now. */
  get keys(): number {
    return this.held.size
  }

  /** How many turns `key` holds now. */
  holds(key: string): number {
    return this.held.get(key) ?? 0
  }

  /** Gives back `n` turns `take` gave. */
  release(key: string, n = 1): void {
    const left = (this.held.get(key) ?? n) - n
    if (left <= 0) this.held.delete(key)
    else this.held.set(key, left)
  }
}

/**
 * `permits` per key: `take(key, n)(effect)` runs `effect` once the key has `n` of its permits free (n = permits: alone
 * among the key's effects); another key's never wait. A key's semaphore is kept while an effect holds or waits for
 * it, so naming many keys leaves nothing behind.
 */
export const keyedPermits = (permits: number) => {
  const locks = new Map<string, { readonly semaphore: Semaphore.Semaphore; users: number }>()
  return (key: string, n = 1) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        let lock = locks.get(key)
        if (lock === undefined) locks.set(key, lock = { semaphore: Semaphore.makeUnsafe(permits), users: 0 })
        lock.users++
        return lock
      }),
      (lock) => lock.semaphore.withPermits(n)(effect),
      (lock) => Effect.sync(() => {
        if (--lock.users === 0) locks.delete(key)
      }),
    )
}

/** One at a time per key: `lock(key)(effect)` runs `effect` once no other effect of that key runs (keyedPermits(1)). */
export const keyedLocks = () => {
  const take = keyedPermits(1)
  return (key: string) => take(key)
}
