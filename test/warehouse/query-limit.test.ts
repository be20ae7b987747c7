// A query the product runs for a user waiting on it (an audience preview) can be bounded in time: the engine stops it
// and the caller gets a query error it can name, not an outage. The embedded engine runs one statement at a time, so
// an unbounded one holds every tenant's work.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

// Slow per row (a hash of a billion strings), so it runs for many seconds whatever the machine's load.
const SLOW = "SELECT sum(cityHash64(toString(number))) AS s FROM numbers(1000000000)"

describe("Warehouse.query with maxExecutionSeconds", () => {
  it("stops a query past its time as a WarehouseQueryError with the engine's code 159, and the warehouse answers next", async () => {
    const result = await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const started = Date.now()
      const failure = yield* warehouse.query(SLOW, { maxExecutionSeconds: 1 }).pipe(Effect.flip)
      const seconds = (Date.now() - started) / 1000
      const next = yield* warehouse.query<{ one: number }>("SELECT 1 AS one")
      return { failure, seconds, next }
    }))
    expect(result.failure._tag).toBe("WarehouseQueryError")
    expect(result.failure).toMatchObject({ code: "159" })
    // Stopped near its limit, far before the query's own end.
    expect(result.seconds).toBeLessThan(20)
    expect(result.next).toEqual([{ one: 1 }])
  }, 60_000)
})
