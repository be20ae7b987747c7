// The list of data-subject requests reads what its abridged view shows, and `cdp dsr list` on a data dir shows that
// view, as GET /v1/dsr does. Found after 32a550c: the list read every request's whole receipt and subject keys from
// the warehouse (one per identifier of the person) and cut them in JS; and on a data dir the command printed them
// whole (one access request of a person with 4,001 identifiers: 272,293 bytes of `cdp dsr list --format json`).
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { backendConfig, warehouseLayer } from "../../cli/layers.ts"
import { LISTED_KEYS } from "../../consent/audit.ts"
import { listDsr, requestListView, requestView } from "../../consent/dsr.ts"
import { loadRequest } from "../../warehouse/dsr.ts"
import { Keys } from "../../consent/keys.ts"
import { Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { runCdp, startServe } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const N = 200
const IDENTIFIERS = 2 * N + 1
let dir: string
let data: string
let id: string
const ok = (r: { status: number | null; stdout: string; stderr: string }) => {
  expect(r.stderr).toBe("")
  expect(r.status).toBe(0)
  return r.stdout
}
const cdp = (...args: Array<string>) => runCdp([...args, "--data-dir", data])
const lines = (text: string) => text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)

type Receipt = { subject: { keys: Array<string>; keyCount?: number }; signature: string }
type Listed = { id: string; receipt: Receipt | null; abridged?: { fields: Record<string, number>; whole: string } }

beforeAll(() => {
  dir = freshDir()
  data = join(dir, "data")
  const file = join(dir, "web.ndjson")
  // One person under N anonymous ids and N addresses (one userId); and one with a single identifier.
  const messages = [
    ...Array.from({ length: N }, (_, i) => ({
      type: "identify", messageId: `m-${i}`, userId: "u-many", anonymousId: `anon-many-${i}`, timestamp: "2024-09-01T10:00:00.000Z",
      traits: { email: `many${i}@x.example` },
    })),
    { type: "identify", messageId: "one", userId: "u-one", timestamp: "2024-09-01T10:00:00.000Z" },
  ]
  writeFileSync(file, messages.map((m) => JSON.stringify(m)).join("\n"))
  ok(cdp("ingest", "--source", "segment", file))
  id = ok(cdp("dsr", "submit", "--type", "access", "--user-id", "u-many")).split("\n")[0]!
  ok(cdp("dsr", "submit", "--type", "restriction", "--user-id", "u-one"))
}, 180_000)
afterAll(() => removeDir(dir))

describe("the list of data-subject requests", () => {
  it("cdp dsr list on a data dir shows the abridged view GET /v1/dsr shows; cdp dsr status the whole request", async () => {
    const whole = JSON.parse(ok(cdp("dsr", "status", id, "--format", "json"))) as Listed
    expect(whole.receipt!.subject.keys).toHaveLength(IDENTIFIERS)
    const direct = lines(ok(cdp("dsr", "list", "--format", "json"))) as Array<Listed>
    expect(direct).toHaveLength(2)
    const listed = direct.find((r) => r.id === id)!
    expect(listed.receipt!.subject.keys).toEqual(whole.receipt!.subject.keys.slice(0, LISTED_KEYS))
    expect(listed.receipt!.subject.keyCount).toBe(IDENTIFIERS)
    expect(listed.receipt!.signature).toBe(whole.receipt!.signature)
    expect(listed.abridged).toEqual({ fields: { "/receipt/subject/keys": IDENTIFIERS }, whole: `/v1/dsr/${id}` })
    const { receipt: _r, abridged: _a, trail: _t, ...rest } = whole as Listed & { trail?: unknown }
    expect(listed).toMatchObject(rest)
    // The one with few identifiers is listed whole.
    const small = direct.find((r) => r.id !== id)!
    expect(small.abridged).toBeUndefined()
    expect(small.receipt!.subject.keyCount).toBeUndefined()
    // cdp audit log on the data dir abridges as GET /v1/audit does.
    const entries = lines(ok(cdp("audit", "log", "--kind", "dsr.completed", "--format", "json")))
    const completed = entries.find((e) => e["requestId"] === id) as { data: { receipt: Receipt }; abridged?: unknown }
    expect(completed.data.receipt.subject.keys).toHaveLength(LISTED_KEYS)
    expect(completed.abridged).toEqual({ fields: { "/data/receipt/subject/keys": IDENTIFIERS }, whole: `/v1/dsr/${id}` })
    // Through cdp serve (GET /v1/dsr): the same lines.
    const serve = await startServe(["--data-dir", data])
    try {
      const served = lines(ok(cdp("dsr", "list", "--format", "json"))) as Array<Listed>
      expect(served).toEqual(direct)
    } finally {
      await serve.stop()
    }
  }, 180_000)

  it("reads the abridged view from the warehouse: not the receipts' subject keys, nor the requests' subject keys", () =>
    Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const reads: Array<number> = []
      const spy: WarehouseShape = {
        ...warehouse,
        query: <T,>(sql: string, options?: Parameters<WarehouseShape["query"]>[1]) => Effect.tap(warehouse.query<T>(sql, options), (rows) =>
          Effect.sync(() => { if (sql.includes("dsr_requests")) reads.push(JSON.stringify(rows).length) })),
      }
      const whole = requestView((yield* loadRequest(id))!)
      const wholeBytes = JSON.stringify(whole).length
      const listed = (yield* listDsr({}).pipe(Effect.provideService(Warehouse, spy))).map((r) => requestListView(r))
      expect(listed.find((r) => r.id === id)).toMatchObject({ abridged: { fields: { "/receipt/subject/keys": IDENTIFIERS } } })
      expect(reads).toHaveLength(1)
      // Two requests listed (each with its done list twice, as counts and in the receipt): a few kilobytes, less than one
      // whole request, not the 401 keys of the receipt and of the request's own subject_keys (60,728 bytes before).
      expect(reads[0], `read ${reads[0]} bytes of dsr_requests; one whole request is ${wholeBytes}`).toBeLessThan(wholeBytes / 3)
    }).pipe(
      Effect.provide(Layer.merge(warehouseLayer(backendConfig(data)), Keys.fromDataDir(data))),
      Effect.scoped,
      Effect.runPromise,
    ), 120_000)
})
