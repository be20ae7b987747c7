// A full refresh explains why its members left in statements written in whole (warehouse/inline-params.ts): it asked
// about every exit at once, so more than PROFILES_PER_QUERY exits (their ids 24 kB at 800) made a statement too long to
// write in, which was bound and took chDB's process-wide turn (every other statement with bound parameters, any
// tenant's, waited for it, and it for them).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { createAudience, getAudience, refreshAudience } from "../../../identity/audiences/index.ts"
import { PROFILES_PER_QUERY } from "../../../identity/audiences/membership.ts"
import { inlineParams } from "../../../warehouse/inline-params.ts"
import { type QueryOptions, Warehouse, type WarehouseShape } from "../../../warehouse/warehouse.ts"
import { submit, web, withConsent } from "../../consent/support.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { AS_OF } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

// Twice what one statement asks about, and more: 1,700 ids are 51 kB.
const PEOPLE = 2 * PROFILES_PER_QUERY + 100

describe("an audience's full refresh", () => {
  it(`explains ${PEOPLE} exits in statements written in whole, each exit once, each with its cause`, () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit(Array.from({ length: PEOPLE }, (_, k) =>
        web(`o${k}`, "2024-10-20T10:00:00.000Z", { userId: `u${k}`, event: "Order Completed" })))
      const { id } = yield* createAudience("acme", { name: "Recent buyers", purpose: "EmailMarketing", condition: { event: "Order Completed", withinDays: 30 } }, "test")
      expect(yield* refreshAudience(yield* getAudience("acme", id), undefined, AS_OF)).toEqual({ entered: PEOPLE, exited: 0 })

      const real = yield* Warehouse
      const explaining: Array<{ sql: string; params: Record<string, unknown> }> = []
      const watched: WarehouseShape = {
        ...real,
        query: <T>(sql: string, options?: QueryOptions) => {
          if (options?.params?.["a_profiles"] !== undefined) explaining.push({ sql, params: options.params })
          return real.query<T>(sql, options)
        },
      }
      // 60 days later every order is out of the window: every member leaves.
      const later = AS_OF + 60 * 86_400_000
      const audience = yield* getAudience("acme", id)
      expect(yield* refreshAudience(audience, undefined, later).pipe(Effect.provideService(Warehouse, watched))).toEqual({ entered: 0, exited: PEOPLE })

      expect(explaining.length).toBeGreaterThan(0)
      for (const s of explaining) expect(inlineParams(s.sql, s.params), `${(s.params["a_profiles"] as Array<string>).length} profiles`).toBeDefined()
      const asked = explaining.flatMap((s) => s.params["a_profiles"] as Array<string>)
      expect(new Set(asked).size).toBe(PEOPLE)
      expect(asked).toHaveLength(PEOPLE)
      // Each exit's cause is the explained one (its order fell out of the window), not "no longer has events".
      const [exits] = yield* real.query<{ n: string; causes: Array<string> }>(
        "SELECT count() AS n, groupUniqArray(cause) AS causes FROM audience_changes WHERE tenant = 'acme' AND audience_id = {id:String} AND change = 'exited'",
        { params: { id } })
      expect(exits).toEqual({ n: String(PEOPLE), causes: [expect.stringContaining("no longer matched")] })
    })), 180_000)
})
