// The access and portability bundle (GDPR Art. 15 and 20): everything held about a subject as JSON (one document)
// and CSV (one file per store), zipped in memory by fflate and written straight to the object store: no temporary
// file holds a person's data on the way. An erasure of the same subject removes the bundle with the rest.
import { strToU8, Zip, ZipDeflate } from "fflate"
import { Effect } from "effect"
import { ObjectStore } from "../ingest/objectstore.ts"
import { identifierKey, type KeysShape } from "./keys.ts"
import { nextTurn } from "../warehouse/turns.ts"

export const BUNDLE_PREFIX = "dsr/bundles/"

/**
 * Where a subject's bundles live: dsr/bundles/<tenant>/<keyed hash of the profile id>/ (of the identifier named, for a
 * subject no profile holds), so an erasure finds them by the subject alone and the key names nobody.
 */
export const bundlePrefix = (keys: KeysShape, tenant: string, subject: { readonly profileId: string } | { readonly kind: string; readonly value: string }) =>
  `${BUNDLE_PREFIX}${tenant}/${"profileId" in subject ? keys.hash(`${tenant}\u0000profile:${subject.profileId}`) : identifierKey(keys, tenant, subject.kind, subject.value)}/`

export const bundleKey = (prefix: string, requestId: string) => `${prefix}${requestId}.zip`

/** What one store holds about the subject. */
export interface StoreRows {
  readonly store: string
  readonly rows: ReadonlyArray<Readonly<Record<string, unknown>>>
}

export interface BundleContent {
  /** bundlePrefix of the subject. */
  readonly prefix: string
  readonly requestId: string
  readonly type: "access" | "portability"
  readonly tenant: string
  readonly generatedAt: string
  /** Art. 15's explanations (purposes, sources, recipients, retention), beside the data itself. */
  readonly report: Readonly<Record<string, unknown>>
  readonly stores: ReadonlyArray<StoreRows>
}

const cell = (value: unknown): string => {
  const text = value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value)
  // RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/** Rows as RFC 4180 CSV, a line at a time: the union of their fields as columns (in order of first appearance), nested values as JSON. */
function* csvPieces(rows: ReadonlyArray<Readonly<Record<string, unknown>>>): Generator<string> {
  const columns = new Set<string>()
  for (const row of rows) for (const k of Object.keys(row)) columns.add(k)
  const names = [...columns]
  yield names.map(cell).join(",")
  for (const row of rows) yield `\r\n${names.map((c) => cell(row[c])).join(",")}`
  yield "\r\n"
}

/** Rows as RFC 4180 CSV (csvPieces joined). */
export const toCsv = (rows: ReadonlyArray<Readonly<Record<string, unknown>>>): string => [...csvPieces(rows)].join("")

const fileName = (store: string) => store.replace(/[^A-Za-z0-9._-]+/g, "_")

/**
 * subject.json (everything) a piece at a time, the very text JSON.stringify(json, null, 2) makes of the whole: one
 * string of it all passes the longest string V8 makes for a subject with a few hundred thousand events.
 */
function* subjectJsonPieces(content: BundleContent): Generator<string> {
  const request = { id: content.requestId, type: content.type, tenant: content.tenant, generatedAt: content.generatedAt }
  const { data: _stores, ...report } = content.report
  const head = JSON.stringify({ request, ...report, data: 0 }, null, 2)
  // Up to the value of "data", the last key: `{\n  "request": ...,\n  "data": `.
  yield head.slice(0, head.length - "0\n}".length)
  if (content.stores.length === 0) yield "{}"
  for (let i = 0; i < content.stores.length; i++) {
    const { store, rows } = content.stores[i]!
    yield `${i === 0 ? "{" : ","}\n    ${JSON.stringify(store)}: ${rows.length === 0 ? "[]" : "["}`
    for (let j = 0; j < rows.length; j++) yield `${j === 0 ? "" : ","}\n      ${JSON.stringify(rows[j], null, 2).replaceAll("\n", "\n      ")}`
    if (rows.length > 0) yield "\n    ]"
    if (i === content.stores.length - 1) yield "\n  }"
  }
  yield "\n}"
}

/** The zip's files, each as pieces of text: `subject.json` (everything) and `csv/<store>.csv` per store. */
const bundleFiles = (content: BundleContent): ReadonlyArray<readonly [string, Iterable<string>]> => [
  ["subject.json", subjectJsonPieces(content)],
  ...content.stores.map((s) => [`csv/${fileName(s.store)}.csv`, csvPieces(s.rows)] as const),
]

/** Text gathered before it is compressed: a push's work is a few milliseconds. */
const PUSH_CHARS = 64 * 1024
/** How long the zip is made before the event loop gets a turn. */
const ZIP_SLICE_MS = 10

/**
 * The files zipped (DEFLATE level 6) a piece at a time, with a turn of the event loop every few milliseconds: made at
 * once (zipSync), a portability bundle of 100,000 events (294 MB of text) held `cdp serve`'s event loop about 15 s.
 */
const zipInSlices = async (files: ReadonlyArray<readonly [string, Iterable<string>]>, mtime: string): Promise<Uint8Array> => {
  const parts: Array<Uint8Array> = []
  let failure: Error | null = null
  const zip = new Zip((error, data) => {
    if (error !== null) failure = error
    else parts.push(data)
  })
  let sliceStarted = performance.now()
  for (const [name, pieces] of files) {
    const entry = new ZipDeflate(name, { level: 6 })
    entry.mtime = mtime
    zip.add(entry)
    let text = ""
    for (const piece of pieces) {
      text += piece
      if (text.length < PUSH_CHARS) continue
      entry.push(strToU8(text))
      text = ""
      if (performance.now() - sliceStarted >= ZIP_SLICE_MS) {
        await nextTurn()
        sliceStarted = performance.now()
      }
    }
    entry.push(strToU8(text), true)
  }
  zip.end()
  if (failure !== null) throw failure
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

/** Zips the bundle and writes it to the object store; returns its key and size. */
export const writeBundle = (content: BundleContent) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const zip = yield* Effect.promise(() => zipInSlices(bundleFiles(content), content.generatedAt))
    const key = bundleKey(content.prefix, content.requestId)
    yield* store.put(key, zip)
    return { key, bytes: zip.byteLength }
  })

/** Removes these bundles (those that still exist); returns how many there were. */
export const removeBundles = (keys: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    let removed = 0
    for (const key of keys) {
      if (!key.startsWith(BUNDLE_PREFIX) || (yield* store.get(key)) === undefined) continue
      yield* store.remove(key)
      removed++
    }
    return removed
  })
