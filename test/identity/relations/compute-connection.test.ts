// A relations compute reads beside the pipeline: on the background connection, and with parameters the embedded
// engine can take as literals. Its histories' reads had a Date parameter, which is never inlined, so each took chDB's
// process-wide turn for statements with parameters, on the pipeline's connection: every tenant's landing waited.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { computeRelations, DEFAULT_RELATIONS_CONFIG } from "../../../identity/relations/index.ts"
import { inlineParams } from "../../../warehouse/inline-params.ts"
import { BackgroundReads, Warehouse, type WarehouseShape } from "../../../warehouse/warehouse.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { submit, web, withConsent } from "../../consent/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

interface Asked { readonly background: boolean; readonly sql: string; readonly params: Record<string, unknown> | undefined }

/** The warehouse as it is, noting each query: on which connection it was asked, and its statement. */
const noting = (w: WarehouseShape, seen: Array<Asked>): WarehouseShape => ({
  ...w,
  query: ((sql: string, options?: Parameters<WarehouseShape["query"]>[1]) =>
    Effect.flatMap(Effect.service(BackgroundReads), (background) => {
      seen.push({ background, sql, params: options?.params })
      return w.query(sql, options)
    })) as WarehouseShape["query"],
})

const head = (sql: string) => sql.replace(/\s+/g, " ").trim().slice(0, 100)

describe("relations compute beside the pipeline", () => {
  it("reads on the background connection, every statement's parameters written in as literals, and scores as before", async () => {
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* submit([1, 2, 3].map((n) => web(`m${n}`, n, { type: "track", event: "Order Completed", userId: `u${n}`, properties: { revenue: 10 * n } })))
      const w = yield* Warehouse
      const runs = []
      const asked: Array<Asked> = []
      for (const source of ["incremental", "history"] as const) {
        runs.push(yield* computeRelations({ tenant: "acme", asOf: "2024-10-20", config: DEFAULT_RELATIONS_CONFIG, source })
          .pipe(Effect.provideService(Warehouse, noting(w, asked))))
      }
      return { runs, asked }
    }))
    expect(r.runs.map((x) => x.profiles)).toEqual([3, 3])
    expect(r.runs[1]!.byType).toEqual(r.runs[0]!.byType)
    expect(r.asked.length).toBeGreaterThan(0)
    expect(r.asked.filter((q) => !q.background).map((q) => head(q.sql))).toEqual([])
    expect(r.asked.filter((q) => q.params !== undefined && inlineParams(q.sql, q.params) === undefined).map((q) => head(q.sql))).toEqual([])
  }, 60_000)
})
