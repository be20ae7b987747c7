// The bus_data_keys table's one owner (migration 033): the Kafka bus's per-person data keys, wrapped. Edge and
// workers share them through the warehouse: the edge stores a key the first time it meets a person key, a worker
// reads it to open that person's records, an erasure deletes it (crypto-shredding the records still on the topics).
import { Effect } from "effect"
import { deleteWhereIn } from "./erasure.ts"
import { chDateTime } from "./sink.ts"
import { Warehouse } from "./warehouse.ts"

export interface StoredDataKey {
  /** Keyed hash of tenant and person key (consent/keys.ts), hex. */
  readonly keyId: string
  /** Random id of this key among the keys of one key id. */
  readonly dk: string
  readonly tenant: string
  /** The key wrapped under the deployment's key-encryption key, hex. */
  readonly wrapped: string
}

export const storeDataKeys = Effect.fn("storeDataKeys")(function* (keys: ReadonlyArray<StoredDataKey>) {
  if (keys.length === 0) return
  const warehouse = yield* Warehouse
  const at = chDateTime(new Date().toISOString())
  yield* warehouse.insert("bus_data_keys", keys.map((k) => ({ key_id: k.keyId, dk: k.dk, tenant: k.tenant, wrapped: k.wrapped, created_at: at })))
})

/**
 * Every stored key of these key ids (several per id when processes raced to make one), and for an erased id its
 * tombstone (dk and wrapped empty): what tells "shredded" from "never stored here" (another warehouse, or not
 * replicated yet), which a consumer must not skip.
 */
export const readDataKeys = Effect.fn("readDataKeys")(function* (keyIds: ReadonlyArray<string>) {
  if (keyIds.length === 0) return [] as ReadonlyArray<StoredDataKey>
  const warehouse = yield* Warehouse
  return yield* warehouse.query<StoredDataKey>(
    "SELECT DISTINCT key_id AS keyId, dk, tenant, wrapped FROM bus_data_keys WHERE key_id IN {ids:Array(String)}",
    { params: { ids: keyIds } })
})

/**
 * Shreds the keys of these key ids: writes a tombstone for each id that has keys, then deletes the keys (a mutation
 * waited for by warehouse/erasure.ts runMutation, so the rows are gone from the active parts when this returns; the
 * caller waits for the replaced parts to leave the disk, as for every personal table). Tombstones first: a crash in
 * between leaves the keys (the erasure runs again), never a deleted key without its tombstone. Returns the ids
 * shredded and how many keys were deleted.
 */
export const shredDataKeys = Effect.fn("shredDataKeys")(function* (tenant: string, keyIds: ReadonlyArray<string>) {
  if (keyIds.length === 0) return { keyIds: [] as ReadonlyArray<string>, keys: 0 }
  const warehouse = yield* Warehouse
  const found = yield* warehouse.query<{ key_id: string; keys: string }>(
    "SELECT key_id, uniqExact(dk) AS keys FROM bus_data_keys WHERE key_id IN {ids:Array(String)} AND dk != '' GROUP BY key_id",
    { params: { ids: keyIds } })
  if (found.length === 0) return { keyIds: [], keys: 0 }
  const at = chDateTime(new Date().toISOString())
  yield* warehouse.insert("bus_data_keys", found.map((f) => ({ key_id: f.key_id, dk: "", tenant, wrapped: "", created_at: at })))
  yield* deleteWhereIn("bus_data_keys", "key_id", keyIds, "dk != ''")
  return { keyIds: found.map((f) => f.key_id), keys: found.reduce((n, f) => n + Number(f.keys), 0) }
})

/** Keys (not tombstones) still stored for these key ids: none after an erasure. */
export const countDataKeys = Effect.fn("countDataKeys")(function* (keyIds: ReadonlyArray<string>) {
  if (keyIds.length === 0) return 0
  const warehouse = yield* Warehouse
  const [row] = yield* warehouse.query<{ n: string }>(
    "SELECT count() AS n FROM bus_data_keys WHERE key_id IN {ids:Array(String)} AND dk != ''", { params: { ids: keyIds } })
  return Number(row?.n ?? 0)
})
