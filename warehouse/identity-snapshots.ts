// identity_snapshots' one owner (migration 014): the online identity graph's state as bytes, stored in chunks with a
// checksum, read back whole or not at all.
import { hash } from "node:crypto"
import { Effect } from "effect"
import { chDateTime } from "./sink.ts"
import { Warehouse } from "./warehouse.ts"

/** Bytes per stored chunk (before base64). */
const CHUNK_BYTES = 4 * 2 ** 20

export interface StoredSnapshot {
  readonly takenAtMs: number
  /** Every observation stored before this time is in the snapshot. */
  readonly coversUntilMs: number
  /** What the state was made with (rules, operators' decisions): a snapshot made otherwise is not used. */
  readonly fingerprint: string
  readonly bytes: Buffer
}

const iso = (ms: number) => new Date(ms).toISOString()

/** Stores a snapshot, then deletes the older ones. */
export const storeSnapshot = Effect.fn("storeSnapshot")(function* (s: StoredSnapshot) {
  const warehouse = yield* Warehouse
  const checksum = hash("sha256", s.bytes, "hex")
  const chunks = Math.max(1, Math.ceil(s.bytes.length / CHUNK_BYTES))
  const rows = []
  for (let seq = 0; seq < chunks; seq++) {
    rows.push({
      taken_at: chDateTime(iso(s.takenAtMs)), covers_until: chDateTime(iso(s.coversUntilMs)), fingerprint: s.fingerprint, checksum, chunks, seq,
      chunk: s.bytes.subarray(seq * CHUNK_BYTES, (seq + 1) * CHUNK_BYTES).toString("base64"),
    })
  }
  yield* warehouse.insert("identity_snapshots", rows)
  yield* warehouse.command("ALTER TABLE identity_snapshots DELETE WHERE taken_at < {taken:DateTime64(3, 'UTC')}", { taken: chDateTime(iso(s.takenAtMs)) })
})

/** The newest snapshot, or undefined when there is none or it is incomplete or corrupt. */
export const loadLatestSnapshot = Effect.fn("loadLatestSnapshot")(function* () {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ taken: string; covers: string; fingerprint: string; checksum: string; chunks: number; seq: number; chunk: string }>(
    "SELECT toUnixTimestamp64Milli(taken_at) AS taken, toUnixTimestamp64Milli(covers_until) AS covers, fingerprint, checksum, chunks, seq, chunk " +
      "FROM identity_snapshots WHERE taken_at = (SELECT max(taken_at) FROM identity_snapshots) ORDER BY seq")
  const first = rows[0]
  if (first === undefined || rows.length !== Number(first.chunks) || rows.some((r, i) => Number(r.seq) !== i)) return undefined
  const bytes = Buffer.concat(rows.map((r) => Buffer.from(r.chunk, "base64")))
  if (hash("sha256", bytes, "hex") !== first.checksum) return undefined
  return { takenAtMs: Number(first.taken), coversUntilMs: Number(first.covers), fingerprint: first.fingerprint, bytes } satisfies StoredSnapshot
})

/** Deletes every snapshot (erasure: they hold identifiers; the next start loads every observation). */
export const dropSnapshots = Effect.fn("dropSnapshots")(function* () {
  const warehouse = yield* Warehouse
  yield* warehouse.command("TRUNCATE TABLE identity_snapshots")
})
