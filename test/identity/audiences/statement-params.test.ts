// An audience's statement is written with its parameters as literals (warehouse/inline-params.ts), whatever its
// leaves: one that binds them takes chDB's process-wide turn for its whole run (a full refresh reads the tenant's
// events), and the pipeline's own statements with bound parameters wait behind it, with every tenant's landing.
// Numbers are Float64 parameters, which inline-params did not write in before b225111.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseCondition } from "../../../identity/audiences/condition.ts"
import { audienceSql, changesAfter } from "../../../warehouse/audiences.ts"
import { type QueryOptions, Warehouse, type WarehouseShape } from "../../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../../support/pipeline.ts"
import { inlineParams } from "../../../warehouse/inline-params.ts"
import { profileIdFor } from "../../../identity/graph.ts"
import { PROFILES_PER_QUERY } from "../../../identity/audiences/membership.ts"

const purpose = { uses: "allBut" as const, sql: "SELECT profile_id FROM consent_refusals WHERE tenant = {tenant:String}", params: { tenant: "acme" } }

const EVERY_LEAF = {
  and: [
    { trait: "plan", equals: "pro" }, { trait: "age", equals: 34 }, { trait: "vip", equals: true },
    { trait: "age", compare: ">=", value: 18.5 }, { trait: "spend", compare: "<", value: 1e300 }, { trait: "tier", in: ["gold", 2, -0.001] },
    { trait: "city", exists: true },
    { event: "Order Completed", channel: "web", count: { op: ">=", value: 2 }, withinDays: 30 },
    { relationship: { in: ["advocate", "loyal_quiet"] } }, { health: { op: ">", value: 60 } }, { churnRisk: { op: "<=", value: 0.25 } },
    { sentiment: { of: "latest", op: ">", value: -0.5 } }, { sentiment: { of: "average", withinDays: 90, op: ">=", value: 1e-7 } },
    { channel: "email", withinDays: 14 },
    { not: { trait: "plan", equals: "free" } },
  ],
}

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("an audience's statement", () => {
  it("has every parameter written in as a literal, for a leaf of each kind, as members and as an explanation", () => {
    const condition = parseCondition(EVERY_LEAF)
    if (!("kind" in condition) && "message" in condition) throw new Error(String(condition.message))
    const input = { tenant: "acme", condition: condition as never, purpose, consentLeaves: new Map(), asOfMs: Date.UTC(2024, 9, 31) }
    for (const mode of [{ kind: "members" as const }, { kind: "explain" as const, profiles: ["prof_1", "prof_2"] }]) {
      const q = audienceSql(input, mode)
      const bound = [...q.sql.matchAll(/\{(\w+):([^{}]*)\}/g)]
        .filter((m) => inlineParams(`SELECT {${m[1]}:${m[2]}}`, { [m[1]!]: q.params[m[1]!] }) === undefined)
        .map((m) => `${m[0]} = ${JSON.stringify(q.params[m[1]!], (_, v) => (typeof v === "bigint" ? v.toString() : v))}`)
      expect(bound, mode.kind).toEqual([])
      expect(inlineParams(q.sql, q.params), mode.kind).toBeDefined()
    }
  })

  it("explaining as many profiles as a refresh asks about at once is written in whole: their ids once, not once per store", () => {
    // The refresh after a batch asks about up to PROFILES_PER_QUERY profiles a statement. Their ids stood in it once per
    // store read (events twice, traits, relations, sentiment twice): 1,000 ids made it over 200 kB, so it was bound and
    // took chDB's turn for its run (310-450 ms seen beside another tenant's posts).
    const condition = parseCondition(EVERY_LEAF)
    if (!("kind" in condition) && "message" in condition) throw new Error(String(condition.message))
    const input = { tenant: "acme", condition: condition as never, purpose, consentLeaves: new Map(), asOfMs: Date.UTC(2024, 9, 31) }
    const profiles = Array.from({ length: PROFILES_PER_QUERY }, (_, i) => profileIdFor("acme", `email:p${i}@x.example`))
    const q = audienceSql(input, { kind: "explain", profiles })
    expect(q.sql.match(/\{a_profiles:/g)?.length).toBe(1)
    expect(inlineParams(q.sql, q.params)).toBeDefined()
  })

  it("of its changes feed is written in whole, with the change number past the largest a Number holds", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const real = yield* Warehouse
      const seen: Array<{ sql: string; params: Record<string, unknown> | undefined }> = []
      const watched: WarehouseShape = {
        ...real,
        query: <T>(sql: string, options?: QueryOptions) => {
          seen.push({ sql, params: options?.params })
          return real.query<T>(sql, options)
        },
      }
      // The number was passed as a string: a UInt64 parameter is written in only from an integer, so it was bound.
      const rows = yield* changesAfter("acme", "aud_1", 18_446_744_073_709_551_614n, 10).pipe(Effect.provideService(Warehouse, watched))
      expect(rows).toEqual([])
      expect(seen).toHaveLength(1)
      expect(inlineParams(seen[0]!.sql, seen[0]!.params ?? {})).toBeDefined()
    })), 60_000)
})
