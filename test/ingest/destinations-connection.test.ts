// An export run's reads go to the warehouse's background connection, not the pipeline's. On the embedded engine a
// connection runs one statement at a time: probing cdp serve, one tenant's export of 25,000 profiles read them in one
// 2.9 s statement on the pipeline's connection, and another tenant's 5-message batch waited 3.3 s behind it.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type DestinationConfig, parseDestinations, replayDeadLetters, syncDestination } from "../../ingest/destinations/index.ts"
import { recordDeadLetters } from "../../warehouse/exports.ts"
import { BackgroundReads, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const dest = (d: Record<string, unknown>): DestinationConfig => parseDestinations(JSON.stringify({ acme: [d] }))[0]!

/** The warehouse as it is, noting for each query whether it was asked on the background connection. */
const noting = (w: WarehouseShape, seen: Array<{ readonly background: boolean; readonly sql: string }>): WarehouseShape => ({
  ...w,
  query: ((sql: string, options?: Parameters<WarehouseShape["query"]>[1]) =>
    Effect.flatMap(Effect.service(BackgroundReads), (background) => {
      seen.push({ background, sql: sql.replace(/\s+/g, " ").slice(0, 120) })
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
    expect(r.sync.filter((q) => !q.background).map((q) => q.sql)).toEqual([])
    expect(r.replay.length).toBeGreaterThan(0)
    expect(r.replay.filter((q) => !q.background).map((q) => q.sql)).toEqual([])
  }, 60_000)
})
