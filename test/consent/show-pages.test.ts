// `cdp consent show` on a data dir reads a page of the history as GET /v1/consent/{identifier} does: paged in the
// engine. Found after 05d3133: the route paged in the warehouse, but the command on a data dir read the person's whole
// ledger and paged it in memory (a person with 20,000 consent records: every row read for a page of 5).
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { consentShowOnDataDir } from "../../cli/consent.ts"
import { backendConfig, warehouseLayer } from "../../cli/layers.ts"
import { ConsentPoliciesRef, DEFAULT_POLICIES, Keys } from "../../consent/index.ts"
import { decodePageCursor } from "../../ingest/pages.ts"
import { HISTORY_KEY_SHAPE } from "../../ingest/consent-route.ts"
import { Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let data: string

/** 200 preference updates of one person, a minute apart: 5 purposes each, so 1,000 ledger rows; and 3,000 other events. */
beforeAll(() => {
  dir = freshDir()
  data = join(dir, "data")
  const file = join(dir, "web.ndjson")
  const lines = [{ type: "identify", userId: "ann", messageId: "i0", timestamp: "2024-01-01T00:00:00.000Z", traits: { email: "ann@x.example" } },
    ...Array.from({ length: 200 }, (_, i) => ({
      type: "track", event: "Segment Consent Preference Updated", userId: "ann", messageId: `c${i}`,
      timestamp: new Date(Date.UTC(2024, 0, 1) + (i + 1) * 60_000).toISOString(),
      context: { consent: { categoryPreferences: { Analytics: i % 2 === 0, Advertising: i % 3 === 0, Personalization: i % 5 === 0, CrmSync: true, SocialListening: i % 7 === 0 } } },
    })),
    ...Array.from({ length: 3000 }, (_, i) => ({
      type: "track", event: "Viewed", userId: "ann", messageId: `v${i}`, timestamp: new Date(Date.UTC(2024, 1, 1) + i * 1000).toISOString(),
    }))]
  writeFileSync(file, lines.map((m) => JSON.stringify(m)).join("\n"))
  const r = runCdp(["ingest", "--source", "segment", file, "--data-dir", data])
  expect(r.status, r.stderr).toBe(0)
}, 120_000)
afterAll(() => removeDir(dir))

describe("cdp consent show on a data dir", () => {
  it("reads a page of the history from the warehouse, not the whole ledger; the pages and the state are the whole ledger's", () =>
    Effect.gen(function* () {
      const warehouse = yield* Warehouse
      // A spy warehouse: the size of what each statement reading the consent ledger gives back.
      const ledgerReads: Array<number> = []
      const spy: WarehouseShape = {
        ...warehouse,
        query: <T,>(sql: string, options?: Parameters<WarehouseShape["query"]>[1]) => Effect.tap(warehouse.query<T>(sql, options), (rows) =>
          Effect.sync(() => { if (sql.includes("consent_ledger")) ledgerReads.push(JSON.stringify(rows).length) })),
      }
      const ref = { _tag: "identifier", kind: "email", value: "ann@x.example" } as const
      const show = (limit: number, cursor?: string | null) =>
        consentShowOnDataDir("default", ref, limit, cursor == null ? undefined : decodePageCursor(cursor, HISTORY_KEY_SHAPE)).pipe(
          Effect.provideService(Warehouse, spy))
      const whole = yield* show(1000)
      expect(whole.historyTotal).toBe(1000)
      expect(whole.history).toHaveLength(1000)
      const wholeBytes = JSON.stringify(whole.history).length
      ledgerReads.length = 0
      const first = yield* show(5)
      expect(first.history).toEqual(whole.history.slice(0, 5))
      expect(first).toMatchObject({ historyTotal: 1000, purposes: whole.purposes, restricted: whole.restricted, nextCursor: expect.any(String) })
      const second = yield* show(5, first.nextCursor)
      expect(second.history).toEqual(whole.history.slice(5, 10))
      // Each page read at most a few pages' worth of ledger text (5 entries, one per purpose, one more), not all 1,000.
      expect(ledgerReads.length).toBeGreaterThan(0)
      for (const bytes of ledgerReads) expect(bytes, `read ${bytes} bytes of ledger; the whole history is ${wholeBytes}`).toBeLessThan(wholeBytes / 5)
    }).pipe(
      Effect.provideService(ConsentPoliciesRef, DEFAULT_POLICIES),
      Effect.provide(Layer.merge(warehouseLayer(backendConfig(data)), Keys.fromDataDir(data))),
      Effect.scoped,
      Effect.runPromise,
    ), 120_000)

  it("selects the person's messages in the engine: no statement reads them or takes them as a parameter", () =>
    Effect.gen(function* () {
      const warehouse = yield* Warehouse
      // A spy warehouse: what each statement takes (its parameters) and gives back (rows).
      const statements: Array<{ readonly sql: string; readonly params: number; readonly rows: number }> = []
      const spy: WarehouseShape = {
        ...warehouse,
        query: <T,>(sql: string, options?: Parameters<WarehouseShape["query"]>[1]) => Effect.tap(warehouse.query<T>(sql, options), (rows) =>
          Effect.sync(() => { statements.push({ sql: sql.slice(0, 80), params: JSON.stringify(options?.params ?? {}).length, rows: rows.length }) })),
      }
      const show = (ref: Parameters<typeof consentShowOnDataDir>[1]) => consentShowOnDataDir("default", ref, 5, undefined).pipe(Effect.provideService(Warehouse, spy))
      for (const ref of [{ _tag: "identifier", kind: "email", value: "ann@x.example" } as const, { _tag: "identifier", kind: "user_id", value: "ann" } as const]) {
        statements.length = 0
        const first = yield* show(ref)
        expect(first.history).toHaveLength(5)
        expect(first.historyTotal).toBe(1000)
        // 3,201 messages: their ids alone are over 15,000 bytes of JSON.
        for (const s of statements) {
          expect(s.params, `${s.sql}: ${s.params} bytes of parameters`).toBeLessThan(2000)
          expect(s.rows, `${s.sql}: ${s.rows} rows`).toBeLessThan(100)
        }
      }
      // Not found as before: a profile id with no messages, an identifier nobody holds.
      const missing = (ref: Parameters<typeof consentShowOnDataDir>[1]) => Effect.map(Effect.flip(show(ref)), (e) => [e._tag, e.message])
      expect(yield* missing({ _tag: "profile", profileId: "prof_nobody" })).toEqual(["ProfileNotFound", 'no profile of tenant "default" holds prof_nobody'])
      expect(yield* missing({ _tag: "identifier", kind: "email", value: "nobody@x.example" }))
        .toEqual(["ProfileNotFound", 'no profile of tenant "default" holds email:nobody@x.example'])
    }).pipe(
      Effect.provideService(ConsentPoliciesRef, DEFAULT_POLICIES),
      Effect.provide(Layer.merge(warehouseLayer(backendConfig(data)), Keys.fromDataDir(data))),
      Effect.scoped,
      Effect.runPromise,
    ), 120_000)
})
