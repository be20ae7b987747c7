// An export run's reads go to the warehouse's background connection, not the pipeline's. On the embedded engine a
// connection runs one statement at a time: probing cdp serve, one tenant's export of 25,000 profiles read them in one
// 2.9 s statement on the pipeline's connection, and another tenant's 5-message batch waited 3.3 s behind it.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { createAudience, refreshAudiences } from "../../identity/audiences/index.ts"
import { type DestinationConfig, parseDestinations, replayDeadLetters, syncDestination } from "../../ingest/destinations/index.ts"
import { inlineParams } from "../../warehouse/inline-params.ts"
import { recordDeadLetters } from "../../warehouse/exports.ts"
import { BackgroundReads, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const dest = (d: Record<string, unknown>): DestinationConfig => parseDestinations(JSON.stringify({ acme: [d] }))[0]!

/** The warehouse as it is, noting for each query whether it was asked on the background connection. */
const noting = (w: WarehouseShape, seen: Array<{ readonly background: boolean; readonly sql: string; readonly inlined?: boolean }>): WarehouseShape => ({
  ...w,
  query: ((sql: string, options?: Parameters<WarehouseShape["query"]>[1]) =>
    Effect.flatMap(Effect.service(BackgroundReads), (background) => {
      const inlined = options?.params === undefined || inlineParams(sql, options.params) !== undefined
      seen.push({ background, sql: sql.replace(/\s+/g, " "), inlined })
      return w.query(sql, options)
    })) as WarehouseShape["query"],
})

describe("export runs beside the pipeline", () => {
  it("a sync and a replay of dead letters read on the background connection, and still send what they read", async () => {
    const lake = dest({ name: "lake", type: "ndjson", purpose: "CrmSync" })
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* submit([1, 2, 3].map((n) => web(`m${n}`, 1, {
        type: "identify", userId: `u${n}`, traits: { email: `p${n}@mail.example` }, context: prefs({ CrmSync: true }),
      })))
      const w = yield* Warehouse
      const sync: Array<{ background: boolean; sql: string }> = []
      const first = yield* syncDestination(lake).pipe(Effect.provideService(Warehouse, noting(w, sync)))
      const [profile] = yield* w.query<{ profile_id: string }>("SELECT profile_id FROM profiles WHERE tenant = 'acme' ORDER BY profile_id LIMIT 1")
      yield* recordDeadLetters("acme", "lake", [{ batchId: "b1", profileId: profile!.profile_id, operation: "upsert", reason: "refused", attempts: 1 }])
      const replay: Array<{ background: boolean; sql: string }> = []
      const replayed = yield* replayDeadLetters(lake).pipe(Effect.provideService(Warehouse, noting(w, replay)))
      return { first, sync, replayed, replay }
    }))
    expect(r.first).toMatchObject({ upserted: 3 })
    expect(r.first.error).toBeUndefined()
    expect(r.sync.length).toBeGreaterThan(0)
    expect(r.sync.filter((q) => !q.background).map((q) => q.sql.slice(0, 120))).toEqual([])
    expect(r.replay.length).toBeGreaterThan(0)
    expect(r.replay.filter((q) => !q.background).map((q) => q.sql.slice(0, 120))).toEqual([])
  }, 60_000)

  // A statement whose parameters cannot all be written in takes chDB's process-wide turn, wherever it runs: the
  // pipeline's own statements with parameters (a 500-message batch's) then wait behind it, and every tenant with them.
  it("a sync of an audience's 1,500 members reads their profiles with parameters written in as literals", async () => {
    const PEOPLE = 2_000
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* submit(Array.from({ length: PEOPLE }, (_, i) => web(`m${i}`, 1, {
        type: "identify", userId: `u${i}`, traits: { email: `p${i}@mail.example`, plan: i % 4 === 0 ? "free" : "pro" }, context: prefs({ CrmSync: true }),
      })))
      const audience = yield* createAudience("acme", { name: "Pro", purpose: "CrmSync", condition: { trait: "plan", equals: "pro" } }, "test")
      yield* refreshAudiences({ tenant: "acme" })
      const config = dest({ name: "pro-lake", type: "ndjson", purpose: "CrmSync", audience: audience.id })
      const w = yield* Warehouse
      const asked: Array<{ background: boolean; sql: string; inlined?: boolean }> = []
      const report = yield* syncDestination(config).pipe(Effect.provideService(Warehouse, noting(w, asked)))
      return { report, asked }
    }))
    expect(r.report.error).toBeUndefined()
    expect(r.report.upserted).toBe(1_500)
    // The members' ids are 45 kB as literals: past what is written in (32 kB), so a list of them would be bound.
    const profileReads = r.asked.filter((q) => q.sql.includes("FROM profiles AS p "))
    expect(profileReads.length).toBeGreaterThan(0)
    expect(profileReads.filter((q) => q.inlined !== true).map((q) => q.sql.slice(0, 120))).toEqual([])
  }, 120_000)
})
