// A tenant's rebuild or an operator's decision resolves its whole history; in `cdp serve` that runs on the event loop
// every request and every other tenant's batch share, so it must give the loop a turn often, not hold it to the end.
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { splitIdentifier } from "../../identity/decisions.ts"
import { rebuildIdentity } from "../../identity/rebuild.ts"
import { defaultIdentityConfig, makeIdentityStage } from "../../identity/stage.ts"
import { type ObservationRow, storeIdentity } from "../../warehouse/identity.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withWarehouse = <A, E>(program: Effect.Effect<A, E, Warehouse | Scope.Scope>) => withEmbeddedWarehouse(dir, program)

const config = defaultIdentityConfig()

const PEOPLE = 1_000
const PER_PERSON = 20

/**
 * 20,000 messages of 1,000 people, each seen on 7 browsers (more anonymous ids than a profile holds): every part has
 * refused links, so the whole history is resolved again, not applied as unions (the heavier path).
 */
const history = (): Array<ObservationRow> => {
  const rows: Array<ObservationRow> = []
  for (let p = 0; p < PEOPLE; p++) {
    for (let i = 0; i < PER_PERSON; i++) {
      const anonymous = `anon-${p}-${i % 7}`
      rows.push({
        tenant: "acme", messageId: `m-${p}-${i}`, timestamp: new Date(Date.UTC(2024, 9, 1) + (p * PER_PERSON + i) * 60_000).toISOString(),
        sightings: [
          { kind: "user_id", value: `user-${p}`, raw: `user-${p}`, trust: "verified" },
          { kind: "anonymous_id", value: anonymous, raw: anonymous, trust: "verified" },
          { kind: "email", value: `person${p}@mail.example`, raw: `person${p}@mail.example`, trust: "stated" },
        ],
        refused: [],
      })
    }
  }
  return rows
}

/**
 * The longest time between two turns of a 5 ms timer on this event loop while `program` runs: how long a request (or
 * another tenant's batch) would have waited for the loop.
 */
const longestStall = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    let last = performance.now()
    let longest = 0
    const timer = setInterval(() => {
      const now = performance.now()
      longest = Math.max(longest, now - last)
      last = now
    }, 5)
    const result = yield* program.pipe(Effect.ensuring(Effect.sync(() => clearInterval(timer))))
    return { result, longestMs: Math.round(longest) }
  })

/**
 * Well above a slice (about 20 ms) and what the warehouse holds the loop for, reading this history as one answer
 * (110-165 ms measured at load average 4), well below what the history took at once (520-670 ms).
 */
const BOUND_MS = 300

describe("identity work shares the event loop", () => {
  it("a rebuild of a tenant's 20,000 messages gives the event loop a turn at least every 300 ms", async () => {
    const { result, longestMs } = await withWarehouse(Effect.gen(function* () {
      yield* storeIdentity({ observations: history(), links: [], moved: [], merges: [], nodes: [] })
      return yield* longestStall(rebuildIdentity(config, "acme", { reread: true }))
    }))
    expect(result.tenants.map((t) => t.tenant)).toEqual(["acme"])
    expect(longestMs).toBeLessThan(BOUND_MS)
  }, 60_000)

  it("an operator's split (the tenant's graph reloaded, then rebuilt) gives the event loop a turn at least every 300 ms", async () => {
    const { result, longestMs } = await withWarehouse(Effect.gen(function* () {
      yield* storeIdentity({ observations: history(), links: [], moved: [], merges: [], nodes: [] })
      yield* rebuildIdentity(config, "acme")
      const { reloadTenant } = yield* makeIdentityStage(config)
      return yield* longestStall(splitIdentifier("acme", "email:person7@mail.example", "a shared inbox", config, reloadTenant("acme")))
    }))
    expect(result.operation.kind).toBe("remove")
    expect(longestMs).toBeLessThan(BOUND_MS)
  }, 60_000)
})
