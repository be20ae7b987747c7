// How many of something each key (a tenant, a scope) holds at once, for caps like "one running analyst query per
// tenant" or "two running data-subject requests per tenant": take a turn if the key holds fewer than its limit, give
// it back when done.
export class TurnsPerKey {
  private readonly held = new Map<string, number>()

  /** Takes a turn for `key` when it holds fewer than `limit`; false (nothing taken) when it holds them all. */
  take(key: string, limit: number): boolean {
    const mine = this.held.get(key) ?? 0
    if (mine >= limit) return false
    this.held.set(key, mine + 1)
    return true
  }

  /** Gives back a turn `take` gave. */
  release(key: string): void {
    const left = (this.held.get(key) ?? 1) - 1
    if (left <= 0) this.held.delete(key)
    else this.held.set(key, left)
  }
}
