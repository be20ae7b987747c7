// An erasure whose mutation cannot be done ends failed with a reason naming the table, and claims nothing done; once
// the table's mutations can run again, the same erasure completes.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { submitRequest } from "../../consent/dsr.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { ANN, TENANT, withSample } from "./dsr-support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("an erasure whose mutation cannot be done", () => {
  it("fails naming the table and the mutation in the way, and completes once that one is gone", { timeout: 180_000 }, async () => {
    await withSample(dir, (env) => Effect.gen(function* () {
      const w = yield* Warehouse
      // Not the erasure's: a mutation of event_rows that fails on every part it meets (accepted when created).
      yield* w.command("ALTER TABLE event_rows UPDATE properties = toString(toUInt32(concat('x', message_id))) WHERE 1 SETTINGS mutations_sync = 0")
      const failed = yield* submitRequest(env, { tenant: TENANT, type: "erasure", identifier: `email:${ANN.email}` })
      expect(failed.status).toBe("failed")
      expect(failed.error).toMatch(
        /^ErasureMutationFailed: the erasure's mutation of table event_rows cannot run while mutation_\d+\.txt of the table fails: Cannot parse string/)
      expect(failed.receipt ?? null).toBeNull()
      expect(failed.done).toEqual([])
      // The erasure's own mutation was stopped: only the other one is left unfinished.
      const pending = yield* query<{ mutation_id: string }>("SELECT mutation_id FROM system.mutations WHERE table = 'event_rows' AND NOT is_done")
      expect(pending.length).toBe(1)
      expect(failed.error).toContain(pending[0]!.mutation_id)

      yield* w.command(`KILL MUTATION WHERE table = 'event_rows' AND mutation_id = '${pending[0]!.mutation_id}' SYNC`)
      const again = yield* submitRequest(env, { tenant: TENANT, type: "erasure", identifier: `email:${ANN.email}` })
      expect(again.status, again.error).toBe("completed")
      const [left] = yield* query<{ ann: string; bob: string }>(
        "SELECT countIf(user_id = 'u-ann' OR anonymous_id = 'anon-ann') AS ann, countIf(user_id = 'u-bob') AS bob FROM events WHERE tenant = {t:String}", { t: TENANT })
      expect(Number(left!.ann)).toBe(0)
      expect(Number(left!.bob)).toBe(2)
      expect(yield* query("SELECT mutation_id FROM system.mutations WHERE NOT is_done OR latest_fail_reason != ''")).toEqual([])
    }))
  })
})
