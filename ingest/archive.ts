// The raw archive: every accepted item's raw text, in gzip NDJSON batches per tenant, source and day received, with a
// manifest per day, in the ObjectStore. Replay (ingest/replay.ts) reads it back through the same connectors.
//
//   archive/<tenant>/<source>/<YYYY-MM-DD>/<batch>.ndjson.gz   one ArchiveRecord a line
//   archive/<tenant>/<source>/<YYYY-MM-DD>/manifest.json       ArchiveManifest: each batch's count, time span, sha256
//
// A batch is written before the manifest names it, so a crash in between leaves a batch the manifest does not list;
// replay reads such batches too (without a checksum to verify). Its records were not acknowledged to the sender,
// who sends them again: replaying both copies lands each message once.
import { createHash, randomBytes } from "node:crypto"
import { promisify } from "node:util"
import { gunzip, gzip } from "node:zlib"
import { Clock, Effect } from "effect"
import type { ArchiveRecord } from "./message.ts"
import { ObjectStore, type ObjectStoreError, type ObjectStoreShape } from "./objectstore.ts"

const gzipAsync = promisify(gzip)
// Level 3 compresses about as fast as level 1 and nearly as small as the default 6, which costs the collector twice
// the CPU time (the archive is written while the same batch lands).
const GZIP_OPTIONS = { level: 3 }
const gunzipAsync = promisify(gunzip)

export const ARCHIVE_PREFIX = "archive/"
export const MANIFEST_FILE = "manifest.json"
export const BATCH_SUFFIX = ".ndjson.gz"

export interface ManifestBatch {
  /** Object key of the batch. */
  readonly key: string
  readonly count: number
  readonly firstReceivedAt: string
  readonly lastReceivedAt: string
  /** Hex SHA-256 of the compressed bytes, as stored. */
  readonly sha256: string
  /** Size of the compressed bytes. */
  readonly bytes: number
}

export interface ArchiveManifest {
  readonly version: 1
  readonly tenant: string
  readonly source: string
  /** The UTC day the batches' items were received (YYYY-MM-DD). */
  readonly date: string
  readonly batches: ReadonlyArray<ManifestBatch>
}

const PLAIN = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/
const ESCAPED = /[^A-Za-z0-9._-]|^\./gu

/**
 * A tenant or source name as one key segment. Names are free text; object keys allow few characters, so anything
 * else (and a leading dot, and `=` itself) becomes `=XX` per UTF-8 byte. Distinct names stay distinct.
 */
export const keySegment = (name: string): string => {
  if (PLAIN.test(name)) return name
  if (name === "") return "="
  return name.replace(ESCAPED, (c) => [...Buffer.from(c, "utf8")].map((b) => `=${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""))
}

/** The UTC day an ISO-8601 UTC time falls on. */
export const archiveDate = (receivedAt: string): string => receivedAt.slice(0, 10)

export const archiveDayPrefix = (tenant: string, source: string, date: string): string =>
  `${ARCHIVE_PREFIX}${keySegment(tenant)}/${keySegment(source)}/${date}/`

export const manifestKey = (tenant: string, source: string, date: string): string =>
  `${archiveDayPrefix(tenant, source, date)}${MANIFEST_FILE}`

/**
 * One record a line, as JSON.stringify writes {tenant, source, messageId, receivedAt, body, meta} (a missing meta is
 * left out), except that a JSON body is written as `"json": <the body>` instead of an escaped `"body"` string
 * (readBatch turns it back into `body`). Built by hand so what repeats from line to line (tenant, source, the receivedAt and meta of one request)
 * is serialised once: this runs on every accepted item.
 */
export const encodeBatch = (records: ReadonlyArray<ArchiveRecord>): string => {
  let text = ""
  let head = ""
  let headOf: ArchiveRecord | undefined
  let received = ""
  let receivedOf: string | undefined
  let meta = ""
  let metaOf: ArchiveRecord["meta"] | null = null
  for (const r of records) {
    if (headOf === undefined || r.tenant !== headOf.tenant || r.source !== headOf.source) {
      head = `{"tenant":${JSON.stringify(r.tenant)},"source":${JSON.stringify(r.source)},"messageId":`
      headOf = r
    }
    if (r.receivedAt !== receivedOf) {
      received = `,"receivedAt":${JSON.stringify(r.receivedAt)}`
      receivedOf = r.receivedAt
    }
    if (r.meta !== metaOf) {
      meta = r.meta === undefined ? "}\n" : `,"meta":${JSON.stringify(r.meta)}}\n`
      metaOf = r.meta
    }
    // A JSON body is embedded as it is: escaping it into a string would cost more than the rest of the line.
    text += head + JSON.stringify(r.messageId) + received + (r.json === true ? `,"json":${r.body}` : `,"body":${JSON.stringify(r.body)}`) + meta
  }
  return text
}

export const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

const isManifest = (value: unknown): value is ArchiveManifest =>
  value !== null && typeof value === "object" && Array.isArray((value as { batches?: unknown }).batches)

/** A day's manifest; undefined when there is none, or when it is not a manifest (`unreadable` says which). */
export const readManifest = (store: ObjectStoreShape, key: string) =>
  Effect.map(store.get(key), (bytes): { readonly manifest?: ArchiveManifest; readonly unreadable?: string } => {
    if (bytes === undefined) return {}
    try {
      const value: unknown = JSON.parse(Buffer.from(bytes).toString("utf8"))
      return isManifest(value) ? { manifest: value } : { unreadable: "not a manifest (no batches array)" }
    } catch (e) {
      return { unreadable: `not valid JSON (${(e as Error).message})` }
    }
  })

const isRecord = (value: unknown): value is ArchiveRecord => {
  if (value === null || typeof value !== "object") return false
  const r = value as Record<string, unknown>
  return typeof r["tenant"] === "string" && typeof r["source"] === "string" && typeof r["messageId"] === "string" &&
    typeof r["receivedAt"] === "string" && typeof r["body"] === "string" &&
    (r["meta"] === undefined || (r["meta"] !== null && typeof r["meta"] === "object" && !Array.isArray(r["meta"])))
}

export type BatchRead =
  | { readonly _tag: "ok"; readonly records: ReadonlyArray<ArchiveRecord> }
  | { readonly _tag: "corrupt"; readonly reason: string }

/**
 * A batch's records. `expected` (from the manifest) is checked first: a batch that is missing, does not match its
 * checksum, does not decompress or holds a line that is not a record is corrupt, and none of its records is returned.
 */
export const readBatch = (store: ObjectStoreShape, key: string, expected?: ManifestBatch) =>
  Effect.gen(function* () {
    const bytes = yield* store.get(key)
    if (bytes === undefined) return { _tag: "corrupt", reason: "the batch is missing" } as BatchRead
    if (expected !== undefined) {
      const sha = sha256Hex(bytes)
      if (sha !== expected.sha256) {
        return { _tag: "corrupt", reason: `checksum mismatch (sha256 ${sha.slice(0, 12)}…, the manifest says ${expected.sha256.slice(0, 12)}…)` } as BatchRead
      }
    }
    const text = yield* Effect.promise(() => gunzipAsync(bytes).then((b) => b.toString("utf8"), (e: unknown) => e as Error))
    if (text instanceof Error) return { _tag: "corrupt", reason: `does not decompress (${text.message})` } as BatchRead
    const records: Array<ArchiveRecord> = []
    const lines = text.split("\n")
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!
      if (line === "") continue
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch {
        return { _tag: "corrupt", reason: `line ${i + 1} is not valid JSON` } as BatchRead
      }
      if (value !== null && typeof value === "object" && "json" in value && !("body" in value)) {
        const { json, ...rest } = value as Record<string, unknown>
        value = { ...rest, body: JSON.stringify(json) }
      }
      if (!isRecord(value)) return { _tag: "corrupt", reason: `line ${i + 1} is not an archive record` } as BatchRead
      records.push(value)
    }
    if (expected !== undefined && records.length !== expected.count) {
      return { _tag: "corrupt", reason: `holds ${records.length} records, the manifest says ${expected.count}` } as BatchRead
    }
    return { _tag: "ok", records } as BatchRead
  })

/** A sortable, unique batch name: when its first item was received, then random bits. */
const batchName = (firstReceivedAt: string): string =>
  `${firstReceivedAt.replace(/[-:]/g, "")}-${randomBytes(6).toString("hex")}${BATCH_SUFFIX}`

export interface ArchiveWriter {
  /** Writes the records (any tenants, sources, days) as one batch per tenant, source and day, then the manifests. */
  readonly write: (records: ReadonlyArray<ArchiveRecord>) => Effect.Effect<void, ObjectStoreError>
  /** Writes the manifests that changed since they were last written (done at most every second, and on close). */
  readonly flush: Effect.Effect<void, ObjectStoreError>
}

/** How often a busy day's manifest is rewritten: each write holds every batch of the day so far. */
const MANIFEST_INTERVAL_MS = 1000

/**
 * The writer the archive consumer uses. One consumer writes a store's manifests (read, add, write back); a second
 * writer on the same store could lose a manifest entry, never a batch (replay also reads unlisted batches).
 */
export const makeArchiveWriter = Effect.gen(function* () {
  const store = yield* ObjectStore

  // The manifests this writer keeps, read once per day and written back at most every MANIFEST_INTERVAL_MS: writing a
  // growing manifest after every batch would cost the square of a busy day's batches. Batches written meanwhile
  // are on the store already; replay reads unlisted ones too.
  const manifests = new Map<string, ArchiveManifest>()
  const unwritten = new Set<string>()
  let lastWrite = 0

  const flush = Effect.gen(function* () {
    for (const mKey of [...unwritten]) {
      // An erasure may have rewritten batches of this day since it was read: its entries win over this copy's.
      const stored = (yield* readManifest(store, mKey)).manifest
      const mine = manifests.get(mKey)!
      const storedKeys = new Set(stored?.batches.map((b) => b.key))
      const merged: ArchiveManifest = stored === undefined ? mine
        : { ...mine, batches: [...stored.batches, ...mine.batches.filter((b) => !storedKeys.has(b.key))] }
      manifests.set(mKey, merged)
      yield* store.put(mKey, `${JSON.stringify(merged, null, 1)}\n`)
      unwritten.delete(mKey)
    }
    lastWrite = yield* Clock.currentTimeMillis
  })

  const manifestOf = Effect.fn("archiveManifest")(function* (mKey: string, tenant: string, source: string, date: string) {
    const known = manifests.get(mKey)
    if (known !== undefined) return known
    const current = yield* readManifest(store, mKey)
    if (current.unreadable !== undefined) {
      // Its batches stay in place and replay still reads them, as unlisted ones; the day starts a new manifest.
      yield* Effect.logWarning("archive manifest unreadable; starting a new one").pipe(Effect.annotateLogs({ key: mKey, reason: current.unreadable }))
    }
    const manifest: ArchiveManifest = current.manifest ?? { version: 1, tenant, source, date, batches: [] }
    manifests.set(mKey, manifest)
    return manifest
  })

  const writeDay = Effect.fn("archiveBatch")(function* (group: ReadonlyArray<ArchiveRecord>) {
    const { tenant, source } = group[0]!
    const date = archiveDate(group[0]!.receivedAt)
    let first = group[0]!.receivedAt
    let last = first
    for (const r of group) {
      if (r.receivedAt < first) first = r.receivedAt
      if (r.receivedAt > last) last = r.receivedAt
    }
    const compressed = new Uint8Array(yield* Effect.promise(() => gzipAsync(Buffer.from(encodeBatch(group), "utf8"), GZIP_OPTIONS)))
    const key = `${archiveDayPrefix(tenant, source, date)}${batchName(first)}`
    yield* store.put(key, compressed)
    const mKey = manifestKey(tenant, source, date)
    const manifest = yield* manifestOf(mKey, tenant, source, date)
    const entry: ManifestBatch = { key, count: group.length, firstReceivedAt: first, lastReceivedAt: last, sha256: sha256Hex(compressed), bytes: compressed.length }
    manifests.set(mKey, { ...manifest, batches: [...manifest.batches, entry] })
    unwritten.add(mKey)
  })

  const write = (records: ReadonlyArray<ArchiveRecord>) =>
    Effect.gen(function* () {
      const groups = new Map<string, Array<ArchiveRecord>>()
      for (const r of records) {
        const day = `${r.tenant}\u0000${r.source}\u0000${archiveDate(r.receivedAt)}`
        const group = groups.get(day)
        if (group === undefined) groups.set(day, [r])
        else group.push(r)
      }
      for (const group of groups.values()) yield* writeDay(group)
      if ((yield* Clock.currentTimeMillis) - lastWrite >= MANIFEST_INTERVAL_MS) yield* flush
    })

  return { write, flush } satisfies ArchiveWriter
})

/** What erasing one person did to the archive. */
export interface ArchiveErasure {
  /** Batches read. */
  readonly batches: number
  /** Batches rewritten (each with its manifest entry). */
  readonly rewritten: number
  /** The subject's records removed. */
  readonly erased: number
  /** Other people's records that mentioned the subject, kept with the identifiers cut out. */
  readonly redacted: number
}

/** Every batch key of a tenant's archive (listed in manifests or not). */
const tenantBatches = (store: ObjectStoreShape, tenant: string) =>
  Effect.map(store.list(`${ARCHIVE_PREFIX}${keySegment(tenant)}/`), (keys) => keys.filter((k) => k.endsWith(BATCH_SUFFIX)))

const manifestKeyOf = (batchKey: string) => `${batchKey.slice(0, batchKey.lastIndexOf("/") + 1)}${MANIFEST_FILE}`

/**
 * Visits every record of a tenant's archive that is the subject's (`isMine`) or mentions them (`mentions`), batch by
 * batch. The archive is read whole: another person's message may quote the subject, and nothing else indexes it.
 */
const subjectRecords = <A>(
  tenant: string, isMine: (r: ArchiveRecord) => boolean, mentions: (r: ArchiveRecord) => boolean,
  visit: (key: string, records: ReadonlyArray<ArchiveRecord>, hit: ReadonlyArray<boolean>) => Effect.Effect<A, ObjectStoreError, ObjectStore>,
) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const out: Array<A> = []
    for (const key of yield* tenantBatches(store, tenant)) {
      const read = yield* readBatch(store, key)
      if (read._tag !== "ok") continue
      const hit = read.records.map((r) => isMine(r) || mentions(r))
      if (hit.some((h) => h)) out.push(yield* visit(key, read.records, hit))
    }
    return out
  })

/** The subject's archived records (their raw messages), for an access request. */
export const exportArchived = (tenant: string, isMine: (r: ArchiveRecord) => boolean) =>
  Effect.map(
    subjectRecords(tenant, isMine, () => false, (_key, records, hit) => Effect.succeed(records.filter((_, i) => hit[i]))),
    (groups) => groups.flat(),
  )

/**
 * Rewrites every batch that holds the subject: their records are left out, others' records that mention them are
 * kept through `redact`, and the day's manifest entry gets the batch's new count, size and SHA-256 (a batch left
 * empty stays, with count 0, so a writer's older copy of the manifest cannot bring back its entry).
 */
export const eraseArchived = (
  tenant: string, isMine: (r: ArchiveRecord) => boolean, mentions: (r: ArchiveRecord) => boolean,
  redact: (r: ArchiveRecord) => ArchiveRecord,
) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    let erased = 0
    let redacted = 0
    const changed = new Map<string, Map<string, ManifestBatch>>()
    const batches = yield* subjectRecords(tenant, isMine, mentions, (key, records) =>
      Effect.gen(function* () {
        const kept: Array<ArchiveRecord> = []
        for (const r of records) {
          if (isMine(r)) erased++
          else if (mentions(r)) {
            redacted++
            kept.push(redact(r))
          } else kept.push(r)
        }
        // Re-encoded as plain records: the body is kept as the text it was, whatever its form was before.
        const compressed = new Uint8Array(yield* Effect.promise(() => gzipAsync(Buffer.from(encodeBatch(kept.map((r) => ({ ...r, json: false }))), "utf8"), GZIP_OPTIONS)))
        yield* store.put(key, compressed)
        const mKey = manifestKeyOf(key)
        const entries = changed.get(mKey) ?? new Map<string, ManifestBatch>()
        changed.set(mKey, entries)
        const times = kept.map((r) => r.receivedAt).sort()
        entries.set(key, {
          key, count: kept.length, firstReceivedAt: times[0] ?? "", lastReceivedAt: times[times.length - 1] ?? "",
          sha256: sha256Hex(compressed), bytes: compressed.length,
        })
        return key
      }))
    for (const [mKey, entries] of changed) {
      const current = yield* readManifest(store, mKey)
      if (current.manifest === undefined) continue
      const manifest: ArchiveManifest = { ...current.manifest, batches: current.manifest.batches.map((b) => entries.get(b.key) ?? b) }
      yield* store.put(mKey, `${JSON.stringify(manifest, null, 1)}\n`)
    }
    return { batches: batches.length, rewritten: batches.length, erased, redacted } satisfies ArchiveErasure
  })

/** Removes whole days of the archive received before `beforeDate` (YYYY-MM-DD): retention. Returns the days removed. */
export const expireArchive = (beforeDate: string) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const days = new Set<string>()
    for (const key of yield* store.list(ARCHIVE_PREFIX)) {
      const parts = key.split("/")
      const date = parts[3]
      if (date === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(date) || date >= beforeDate) continue
      days.add(parts.slice(0, 4).join("/"))
      yield* store.remove(key)
    }
    return days.size
  })
