// The access/portability bundle: a zip written by fflate straight into the object store (no temporary file of its
// own), holding subject.json and one RFC 4180 CSV per store; opened here with the same library.
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { parse } from "csv-parse/sync"
import { Effect } from "effect"
import { strFromU8, unzipSync } from "fflate"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { BUNDLE_PREFIX, bundlePrefix, removeBundles, toCsv, writeBundle } from "../../consent/bundle.ts"
import { makeKeys } from "../../consent/keys.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => {
  dir = freshDir()
})
afterEach(() => removeDir(dir))

const run = <A, E>(program: Effect.Effect<A, E, ObjectStore>) => Effect.runPromise(program.pipe(Effect.provide(ObjectStore.local(dir))))

const getObject = (key: string) => Effect.gen(function* () {
  return yield* (yield* ObjectStore).get(key)
})

const keys = makeKeys(new Uint8Array(32).fill(7))

const EVENTS = [
  { message_id: "m1", source: "segment", channel: "web", traits: { name: "Ann \"Nan\" Lee", city: "Leeds, UK" }, total: 42 },
  { message_id: "m2", source: "calls", channel: "call", note: "line one\nline two", extra_field: null },
]

describe("bundle", () => {
  it("writes a zip of subject.json and one CSV per store that the same library opens", async () => {
    const prefix = bundlePrefix(keys, "acme", { profileId: "prof_abcdefghijklmnop" })
    const written = await run(writeBundle({
      prefix, requestId: "dsr_1", type: "access", tenant: "acme", generatedAt: "2026-12-02T10:00:00.000Z",
      report: { purposes: [{ purpose: "Analytics", state: "granted" }] },
      stores: [{ store: "events", rows: EVENTS }, { store: "texts", rows: [{ message_id: "m2", text: "Thanks, lovely" }] }],
    }))
    expect(written.key).toBe(`${prefix}dsr_1.zip`)
    expect(written.key.startsWith(`${BUNDLE_PREFIX}acme/`)).toBe(true)
    // The key names nobody: only a keyed hash of the profile.
    expect(written.key).not.toContain("prof_")
    const bytes = await run(getObject(written.key))
    expect(bytes?.byteLength).toBe(written.bytes)
    const files = unzipSync(bytes!)
    expect(Object.keys(files).sort()).toEqual(["csv/events.csv", "csv/texts.csv", "subject.json"])
    const json = JSON.parse(strFromU8(files["subject.json"]!))
    expect(json.request).toEqual({ id: "dsr_1", type: "access", tenant: "acme", generatedAt: "2026-12-02T10:00:00.000Z" })
    expect(json.purposes).toEqual([{ purpose: "Analytics", state: "granted" }])
    expect(json.data.events).toEqual(EVENTS)
    const csv = parse(strFromU8(files["csv/events.csv"]!), { columns: true }) as Array<Record<string, string>>
    expect(csv).toEqual([
      { message_id: "m1", source: "segment", channel: "web", traits: JSON.stringify(EVENTS[0]!.traits), total: "42", note: "", extra_field: "" },
      { message_id: "m2", source: "calls", channel: "call", traits: "", total: "", note: "line one\nline two", extra_field: "" },
    ])
    // Only the bundle itself is in the store: no temporary file was left beside it.
    const all = readdirSync(join(dir, ...prefix.split("/").filter((p) => p !== "")))
    expect(all).toEqual(["dsr_1.zip"])
  })

  it("a store with no rows gives a CSV with no lines", () => {
    expect(toCsv([])).toBe("\r\n")
  })

  it("removes bundles by key, and only bundles", async () => {
    const prefix = bundlePrefix(keys, "acme", { kind: "email", value: "ann@x.example" })
    const { key } = await run(writeBundle({ prefix, requestId: "dsr_2", type: "portability", tenant: "acme", generatedAt: "2026-12-02T10:00:00.000Z", report: {}, stores: [] }))
    expect(await run(removeBundles([key, "archive/x.ndjson.gz", `${prefix}dsr_missing.zip`]))).toBe(1)
    expect(await run(getObject(key))).toBeUndefined()
  })
})
