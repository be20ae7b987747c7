// Issue 13's proof: the whole dev set lands, one person is erased by one e-mail address, and then nothing the pipeline
// wrote holds any of their e-mail addresses, phone numbers (as stored and as E.164), X handle or X id: every table
// scanned by SQL (ClickHouse compresses its column files, so a byte search of them alone proves nothing), every file
// of the data dir scanned with gzip and zip files opened, no outdated part left on disk; and nobody else lost data.
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { Effect, Layer } from "effect"
import { unzipSync } from "fflate"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eraseSubject, type ErasureCount, TABLES } from "../../consent/registry.ts"
import { Keys } from "../../consent/keys.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { defaultIdentityConfig } from "../../identity/index.ts"
import { MANIFEST_FILE, readBatch, readManifest } from "../../ingest/archive.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir, runWith } from "../support/pipeline.ts"
import { SIGNALS_DEV } from "../support/shared.ts"

const ENV = { CDP_PHONE_REGIONS: "US,GB" }
const SOURCES: ReadonlyArray<[string, string]> = [
  ["segment", "web.ndjson"], ["segment", "invalid.ndjson"], ["sendgrid", "email-events.json"], ["email", "email-inbound"],
  ["chat", "chat.ndjson"], ["twitter", "tweets.json"], ["calls", "calls.csv"],
]

interface Person {
  readonly person_id: string
  readonly emails: ReadonlyArray<string>
  readonly phones: ReadonlyArray<string>
  readonly twitter: { readonly id: string; readonly handle: string } | null
  readonly erasure_candidate: boolean
}

const persons = readFileSync(join(SIGNALS_DEV, "truth/persons.ndjson"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Person)
const person = persons.find((p) => p.erasure_candidate && p.emails.length > 0 && p.phones.length > 0 && p.twitter !== null)!

/** National spellings of an E.164 number as people write them in the dev set (GB 0-prefixed, US 10 digits). */
const nationalForms = (e164: string): ReadonlyArray<string> =>
  e164.startsWith("+44") ? [`0${e164.slice(3)}`] : e164.startsWith("+1") ? [e164.slice(2)] : []

const NEEDLES = [
  ...person.emails,
  ...person.phones.flatMap((p) => [p, p.slice(1), ...nationalForms(p)]),
  person.twitter!.handle, person.twitter!.id,
].map((n) => n.toLowerCase())

let dir: string
let data: string
let done: ReadonlyArray<ErasureCount>
let before: Map<string, number>
let after: Map<string, number>
let tableHits: Array<string>
let outdated: Array<{ table: string; parts: string }>
let activeParts: Map<string, Set<string>>
let subjectProfiles: ReadonlyArray<string>
let corrupt: Array<string>

const layerFor = (dataDir: string) =>
  Layer.mergeAll(Warehouse.embedded(join(dataDir, "clickhouse")), ObjectStore.local(join(dataDir, "objects")), Keys.fromDataDir(dataDir))

const profileCounts = Effect.gen(function* () {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ profile_id: string; n: string }>("SELECT profile_id, count() AS n FROM events GROUP BY profile_id")
  return new Map(rows.map((r) => [r.profile_id, Number(r.n)]))
})

/** Every stored table, every column as text, searched for every needle (case-insensitively). */
const scanTables = Effect.gen(function* () {
  const warehouse = yield* Warehouse
  const hits: Array<string> = []
  const tables = yield* warehouse.query<{ name: string }>(
    "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT LIKE '%View'")
  for (const { name } of tables) {
    const columns = yield* warehouse.query<{ name: string }>(
      "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String}", { params: { t: name } })
    const text = `concat(${columns.map((c) => `toString(\`${c.name}\`)`).join(", ' ', ")}, '')`
    // An alias no column has: ClickHouse reads a name in WHERE as a SELECT alias first (a table with a column "n").
    const [row] = yield* warehouse.query<{ __hits: string }>(
      `SELECT count() AS __hits FROM \`${name}\` WHERE multiSearchAnyCaseInsensitiveUTF8(${text}, {needles:Array(String)})`,
      { params: { needles: NEEDLES } })
    if (Number(row!.__hits) > 0) hits.push(`${name}: ${row!.__hits} rows`)
  }
  return hits
})

const walk = (d: string): Array<string> =>
  readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.isFile() ? [join(d, e.name)] : []))

const contentsOf = (file: string): string => {
  const bytes = readFileSync(file)
  if (file.endsWith(".gz")) return gunzipSync(bytes).toString("utf8")
  if (file.endsWith(".zip")) return Object.values(unzipSync(bytes)).map((b) => Buffer.from(b).toString("utf8")).join("\n")
  return bytes.toString("latin1")
}

beforeAll(async () => {
  dir = freshDir()
  data = join(dir, "data")
  for (const [source, file] of SOURCES) {
    const r = runCdp(["ingest", "--source", source, join(SIGNALS_DEV, file), "--data-dir", data], { env: ENV })
    // invalid.ndjson is every line refused: `cdp ingest` says nothing landed (exit 1).
    expect(r.stderr, `${source} ${file}`).toMatch(file === "invalid.ndjson" ? /nothing landed/ : /^$/)
  }
  await runWith(layerFor(data), Effect.gen(function* () {
    before = yield* profileCounts
    const subject = yield* resolveSubject("default", `email:${person.emails[0]!}`, defaultIdentityConfig(["US", "GB"]).extract.normalise)
    subjectProfiles = subject.profileIds
    done = yield* eraseSubject(subject)
    after = yield* profileCounts
    tableHits = yield* scanTables
    // Every rewritten batch still matches its manifest (replay verifies each batch against it).
    const store = yield* ObjectStore
    corrupt = []
    for (const key of (yield* store.list("archive/")).filter((k) => k.endsWith(MANIFEST_FILE))) {
      for (const batch of (yield* readManifest(store, key)).manifest?.batches ?? []) {
        const read = yield* readBatch(store, batch.key, batch)
        if (read._tag !== "ok") corrupt.push(`${batch.key}: ${read.reason}`)
      }
    }
    const warehouse = yield* Warehouse
    const personal = TABLES.filter((t) => t.erasure === "rows" || t.erasure === "truncate").map((t) => t.name)
    outdated = [...yield* warehouse.query<{ table: string; parts: string }>(
      "SELECT table, count() AS parts FROM system.parts WHERE database = currentDatabase() AND NOT active AND table IN {t:Array(String)} GROUP BY table",
      { params: { t: personal } })]
    const active = yield* warehouse.query<{ path: string }>(
      "SELECT path FROM system.parts WHERE database = currentDatabase() AND active AND table IN {t:Array(String)}", { params: { t: personal } })
    activeParts = new Map()
    for (const { path } of active) {
      const tableDir = join(path, "..")
      activeParts.set(tableDir, (activeParts.get(tableDir) ?? new Set()).add(join(path)))
    }
  }))
}, 300_000)
afterAll(() => removeDir(dir))

describe(`erasing one person of the dev set (${person.person_id}) by one e-mail address`, () => {
  it("erases their rows and reports what it did where", () => {
    const erased = (where: string) => done.find((d) => d.where === where && d.what === "erased")?.count ?? 0
    expect(subjectProfiles.length).toBe(1)
    expect(erased("event_rows")).toBeGreaterThan(0)
    expect(erased("identity_nodes")).toBeGreaterThan(0)
    expect(done.find((d) => d.where === "archive" && d.what === "records erased")?.count).toBeGreaterThan(0)
    expect(done.find((d) => d.where === "verification")?.count).toBe(0)
  })

  it("rewrites the archive batches that held them so that each still matches its manifest's count and checksum", () => {
    expect(corrupt).toEqual([])
  })

  it("leaves none of their identifiers in any warehouse table (every column of every table, by SQL)", () => {
    expect(tableHits).toEqual([])
  })

  it("leaves none of their identifiers in any file of the data dir (gzip batches and zips opened)", () => {
    const hits: Array<string> = []
    let scanned = 0
    for (const file of walk(data)) {
      const text = contentsOf(file).toLowerCase()
      scanned++
      for (const n of NEEDLES) if (text.includes(n)) hits.push(`${file.slice(data.length)}: ${n.length} chars`)
    }
    expect(scanned).toBeGreaterThan(100)
    expect(hits).toEqual([])
  })

  it("leaves no outdated or detached part on disk: each personal table's directory holds only its active parts", () => {
    expect(outdated).toEqual([])
    const strays: Array<string> = []
    for (const [tableDir, parts] of activeParts) {
      for (const entry of readdirSync(tableDir)) {
        const full = join(tableDir, entry)
        if (!statSync(full).isDirectory()) continue
        if (entry === "detached") {
          if (readdirSync(full).length > 0) strays.push(full)
          continue
        }
        if (!parts.has(full) && !parts.has(`${full}/`)) strays.push(full)
      }
    }
    expect(strays).toEqual([])
  })

  it("changes nobody else's data: every other profile keeps its row count", () => {
    const others = [...before].filter(([p]) => !subjectProfiles.includes(p))
    expect(others.length).toBeGreaterThan(1000)
    expect(others.filter(([p, n]) => after.get(p) !== n)).toEqual([])
    expect(subjectProfiles.every((p) => !after.has(p))).toBe(true)
  })
})
