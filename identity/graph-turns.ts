// Who works on the running identity graph at once (identity/stage.ts). Each tenant's graph is its own TenantGraph (its
// identifiers interned in its own tables, its own batch scratch), so different tenants' batches run side by side, each
// tenant's one at a time; what reads or replaces every tenant's graph (a snapshot, a reload of every tenant, a
// catch-up, a tenant's reloaded graph put in place) runs alone. A whole-graph turn waits for the batches in progress,
// and batches that ask after it wait for it, so a steady flow of batches cannot keep a snapshot out.
import { Effect, Semaphore } from "effect"

/** Permits of the shared side: more than batches ever run at once (the bus runs TENANTS_AT_ONCE); a whole turn takes them all. */
const ALL = 1 << 16

export interface GraphTurns {
  /** Runs `self` after the given tenants' earlier turns and before their later ones (other tenants' go on beside it). */
  readonly tenants: (tenants: Iterable<string>) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Runs `self` beside other shared turns, never beside a whole one (a batch: inside its tenants' turn). */
  readonly shared: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Runs `self` alone: after every shared turn in progress, before those asked for after it. */
  readonly whole: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export const makeGraphTurns = (): GraphTurns => {
  const perTenant = new Map<string, Semaphore.Semaphore>()
  const turnOf = (tenant: string) => {
    let s = perTenant.get(tenant)
    if (s === undefined) perTenant.set(tenant, s = Semaphore.makeUnsafe(1))
    return s
  }
  const graph = Semaphore.makeUnsafe(ALL)
  // A whole turn holds the door while it waits for the shared ones to end; a shared turn only passes through it. Without
  // it a whole turn (all the permits) waits while later shared turns (one each) keep being served before it.
  const door = Semaphore.makeUnsafe(1)
  return {
    // In one order (sorted), so two batches of several tenants never hold one tenant each and wait for the other's.
    tenants: (tenants) => (self) => [...new Set(tenants)].sort().reduceRight((inner, t) => turnOf(t).withPermits(1)(inner), self),
    shared: (self) => Effect.andThen(door.withPermits(1)(Effect.void), graph.withPermits(1)(self)),
    whole: (self) => door.withPermits(1)(graph.withPermits(ALL)(self)),
  }
}
