// The consent stage's read of a batch's profiles' ledger rows (ledgerOfProfilesFrom, once per batch and tenant) is
// written in whole (warehouse/inline-params.ts): it named the profiles in each of five places, so a batch of a few
// hundred profiles made it longer than is written in, and it was bound, taking chDB's process-wide turn on the
// pipeline's path (every statement with bound parameters, any tenant's, waited for it, and it for them).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { profileIdFor } from "../../identity/graph.ts"
import { ledgerOfProfilesFrom } from "../../warehouse/consent.ts"
import { inlineParams } from "../../warehouse/inline-params.ts"
import { type QueryOptions, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("the consent stage's ledger read", () => {
  it("is written in whole for a batch of 800 profiles, their ids once", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const real = yield* Warehouse
      const seen: Array<{ sql: string; params: Record<string, unknown> }> = []
      const watched: WarehouseShape = {
        ...real,
        query: <T>(sql: string, options?: QueryOptions) => {
          seen.push({ sql, params: options?.params ?? {} })
          return real.query<T>(sql, options)
        },
      }
      const profiles = Array.from({ length: 800 }, (_, i) => profileIdFor("acme", `email:p${i}@x.example`))
      const rows = yield* ledgerOfProfilesFrom("acme", profiles, Date.UTC(2024, 9, 1)).pipe(Effect.provideService(Warehouse, watched))
      expect(rows).toEqual([])
      expect(seen).toHaveLength(1)
      expect(seen[0]!.sql.match(/\{profiles:/g)?.length).toBe(1)
      expect(inlineParams(seen[0]!.sql, seen[0]!.params)).toBeDefined()
    })), 60_000)
})
