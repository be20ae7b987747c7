// NDJSON and CSV files in the object store: one object per batch under exports/TENANT/DESTINATION/, named by the
// batch id, so a retried or re-run batch rewrites the same object instead of adding a copy. A withdrawal writes a
// removals file (profile ids) for the consumer to apply. An erasure needs no call: the object store's exports/ area
// is in the personal-data registry, and an erasure removes every export file that names the subject.
import { stringify } from "csv-stringify/sync"
import { Effect } from "effect"
import type { ObjectStoreShape } from "../objectstore.ts"
import type { DestinationConfig } from "./config.ts"
import { type DestinationClient, type Operation, type OutRecord, recordIdOf, type SendResult } from "./record.ts"

export const EXPORTS_PREFIX = "exports/"

const flatten = (fields: Readonly<Record<string, unknown>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(fields)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v)) out[`${k}.${k2}`] = Array.isArray(v2) ? v2.join(";") : typeof v2 === "string" ? v2 : JSON.stringify(v2)
    } else {
      out[k] = v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v)
    }
  }
  return out
}

// A spreadsheet runs a cell starting with = + - @ (or a tab or CR before one) as a formula: HYPERLINK, DDE (cmd|...).
// Such a cell gets a leading ' (OWASP's advice), which every spreadsheet shows as text. A signed number or phone
// number (-12.5, +44 20 7946 0958) is left alone: at worst a spreadsheet computes it, it calls nothing, and a CRM
// importing the file must get the E.164 number it matches people on, not '+44...
const FORMULA_START = /^[=+\-@\t\r]/
const SIGNED_NUMBER = /^[+-]\d[\d .()-]*(?:[eE][+-]?\d+)?$/
const cellSafe = (s: string) => (FORMULA_START.test(s) && !SIGNED_NUMBER.test(s) ? `'${s}` : s)

export const makeFiles = (config: DestinationConfig, store: ObjectStoreShape): DestinationClient => {
  const csv = config.type === "csv"
  const keyOf = (op: Operation, batchId: string) =>
    `${EXPORTS_PREFIX}${config.tenant}/${config.name}/${batchId}${op === "remove" ? ".removals" : ""}.${csv ? "csv" : "ndjson"}`
  const rowsOf = (op: Operation, records: ReadonlyArray<OutRecord>) =>
    records.map((r) => op === "remove"
      ? { recordId: recordIdOf(config.tenant, config.name, r.profileId), profileId: r.profileId, removed: true }
      : { recordId: recordIdOf(config.tenant, config.name, r.profileId), ...r.fields })
  const contentOf = (op: Operation, records: ReadonlyArray<OutRecord>): string => {
    const rows = rowsOf(op, records)
    if (!csv) return rows.map((r) => JSON.stringify(r)).join("\n") + "\n"
    const flat = rows.map(flatten)
    const columns = [...new Set(flat.flatMap((r) => Object.keys(r)))]
    // Column names come from the data too (the keys of an object trait): escaped as cells are.
    return stringify(flat, { header: true, columns: columns.map((key) => ({ key, header: cellSafe(key) })), cast: { string: cellSafe } })
  }
  return {
    config,
    supports: new Set<Operation>(["upsert", "remove"]),
    maxBatch: () => config.batchSize,
    plan: (op, records, batchId) => ({ method: "PUT", url: `${store.backend.kind}:${keyOf(op, batchId)}`, body: rowsOf(op, records) }),
    send: async (op, records, batchId): Promise<SendResult> => {
      const key = keyOf(op, batchId)
      await Effect.runPromise(store.put(key, contentOf(op, records)))
      return { kind: "done", status: 200, detail: `wrote ${key}`, items: records.map((r) => ({ key: r.key, ok: true as const, remoteId: "" })) }
    },
  }
}
