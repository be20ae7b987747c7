// The access and portability bundle (GDPR Art. 15 and 20): everything held about a subject as JSON (one document)
// and CSV (one file per store), zipped in memory by fflate and written straight to the object store: no temporary
// file holds a person's data on the way. An erasure of the same subject removes the bundle with the rest.
import { strToU8, zipSync } from "fflate"
import { Effect } from "effect"
import { ObjectStore } from "../ingest/objectstore.ts"
import { identifierKey, type KeysShape } from "./keys.ts"

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

/** Rows as RFC 4180 CSV: the union of their fields as columns (in order of first appearance), nested values as JSON. */
export const toCsv = (rows: ReadonlyArray<Readonly<Record<string, unknown>>>): string => {
  const columns = new Set<string>()
  for (const row of rows) for (const k of Object.keys(row)) columns.add(k)
  const names = [...columns]
  return [names.map(cell).join(","), ...rows.map((row) => names.map((c) => cell(row[c])).join(","))].join("\r\n") + "\r\n"
}

const fileName = (store: string) => store.replace(/[^A-Za-z0-9._-]+/g, "_")

/** The zip's files: `subject.json` (everything) and `csv/<store>.csv` per store. */
export const bundleFiles = (content: BundleContent): Record<string, Uint8Array> => {
  const json = {
    request: { id: content.requestId, type: content.type, tenant: content.tenant, generatedAt: content.generatedAt },
    ...content.report,
    data: Object.fromEntries(content.stores.map((s) => [s.store, s.rows])),
  }
  return {
    "subject.json": strToU8(JSON.stringify(json, null, 2)),
    ...Object.fromEntries(content.stores.map((s) => [`csv/${fileName(s.store)}.csv`, strToU8(toCsv(s.rows))])),
  }
}

/** Zips the bundle and writes it to the object store; returns its key and size. */
export const writeBundle = (content: BundleContent) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const zip = zipSync(bundleFiles(content), { level: 6, mtime: content.generatedAt })
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
