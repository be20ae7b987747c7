// identity_snapshots' one owner (migration 014): the online identity graph's state as bytes, stored in chunks with a
// checksum, read back whole or not at all.
import { hash, randomBytes } from "node:crypto"
import { Effect } from "effect"
import { runMutation } from "./erasure.ts"
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

/**
 * Stores a snapshot, then deletes the older ones with runMutation, so they are gone when this returns: on the embedded
 * engine the DELETE does not hold the engine's one connection while it rewrites parts, and one that cannot run (another
 * mutation of the table failing) or is interrupted is killed rather than left failing in the table, where every later
 * mutation of it waits behind it. Before, the ALTER ran with the session's mutations_sync (1 on the embedded engine):
 * behind a failing mutation it failed with the engine's error and stayed in system.mutations, failing too. A failure
 * is runMutation's ErasureMutationFailed, as a consent strip's (warehouse/sink.ts), naming the table and the mutation
 * in one line ("the identity snapshot cleanup's mutation of table identity_snapshots cannot run while mutation_3.txt
 * of the table fails: ..."); it is not WarehouseUnavailable: the warehouse answered. `{marker:String} != ''` is always
 * true: it is how runMutation finds the mutation in system.mutations.
 */
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
  const marker = `cdp_identity_snapshots_${randomBytes(6).toString("hex")}`
  yield* runMutation("identity_snapshots",
    "ALTER TABLE identity_snapshots DELETE WHERE taken_at < {taken:DateTime64(3, 'UTC')} AND {marker:String} != ''", marker,
    { params: { taken: chDateTime(iso(s.takenAtMs)), marker }, mutation: "the identity snapshot cleanup's mutation" })
})

/** The newest usable snapshot, and why each newer one was passed over. */
export interface SnapshotRead {
  readonly snapshot: StoredSnapshot | undefined
  /** One line per newer snapshot not taken (incomplete: a write cut short; or its checksum wrong). */
  readonly passedOver: ReadonlyArray<string>
}

/**
 * The newest complete snapshot whose checksum holds. An older one is still there when a newer write was cut short
 * (the older is deleted only after the newer is stored) and it is as good: a start reads what was stored since it.
 * Snapshots are told apart by (taken_at, checksum), so two written in the same millisecond do not look like one
 * with too many chunks, and a chunk stored twice (an insert retried after it had landed) is read once. Only the
 * chosen snapshot's chunks are read.
 */
export const loadNewestSnapshot = Effect.fn("loadNewestSnapshot")(function* () {
  const warehouse = yield* Warehouse
  const heads = yield* warehouse.query<{ taken: string; covers: string; fingerprint: string; checksum: string; chunks: number; seqs: ReadonlyArray<number> }>(
    "SELECT toUnixTimestamp64Milli(taken_at) AS taken, any(toUnixTimestamp64Milli(covers_until)) AS covers, any(fingerprint) AS fingerprint, checksum, " +
      "max(chunks) AS chunks, arraySort(groupUniqArray(seq)) AS seqs FROM identity_snapshots GROUP BY taken_at, checksum ORDER BY taken_at DESC, checksum")
  const passedOver: Array<string> = []
  for (const head of heads) {
    const taken = iso(Number(head.taken))
    const chunks = Number(head.chunks)
    if (head.seqs.length !== chunks || head.seqs.some((seq, i) => Number(seq) !== i)) {
      passedOver.push(`the snapshot taken ${taken} is incomplete (${head.seqs.length} of ${chunks} chunks: its write was cut short)`)
      continue
    }
    const rows = yield* warehouse.query<{ chunk: string }>(
      "SELECT chunk FROM identity_snapshots WHERE taken_at = fromUnixTimestamp64Milli({taken:Int64}, 'UTC') AND checksum = {checksum:String} " +
        "ORDER BY seq LIMIT 1 BY seq",
      { params: { taken: Number(head.taken), checksum: head.checksum } })
    const bytes = Buffer.concat(rows.map((r) => Buffer.from(r.chunk, "base64")))
    if (hash("sha256", bytes, "hex") !== head.checksum) {
      passedOver.push(`the snapshot taken ${taken} is corrupt (its checksum does not match its bytes)`)
      continue
    }
    const snapshot: StoredSnapshot = { takenAtMs: Number(head.taken), coversUntilMs: Number(head.covers), fingerprint: head.fingerprint, bytes }
    return { snapshot, passedOver } satisfies SnapshotRead
  }
  return { snapshot: undefined, passedOver } satisfies SnapshotRead
})

/** The newest usable snapshot, or undefined when there is none. */
export const loadLatestSnapshot = Effect.fn("loadLatestSnapshot")(function* () {
  return (yield* loadNewestSnapshot()).snapshot
})

/** Deletes every snapshot (erasure: they hold identifiers; the next start loads every observation). */
export const dropSnapshots = Effect.fn("dropSnapshots")(function* () {
  const warehouse = yield* Warehouse
  yield* warehouse.command("TRUNCATE TABLE identity_snapshots")
})
