// An erasure that waits for outdated parts may detach a table and attach it again (warehouse/erasure.ts
// awaitOldPartsGone), a table every tenant's rows share. Another tenant's writes to it in between are not wrong: they
// wait for the table to be back, as reads do (reads-during-reattach), and each lands once. Before, an insert failed
// WarehouseUnavailable with the engine's UNKNOWN_TABLE (only the pipeline's landing retried it; a route's write, such
// as a restriction's, failed), a command (ALTER) failed WarehouseQueryError, and a mutation being watched
// (runMutation) failed "is no longer listed in system.mutations" while its table was away.
import { randomBytes } from "node:crypto"
import { Effect, Fiber, Ref } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { awaitOldPartsGone, outdatedParts, runMutation } from "../../warehouse/erasure.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

it("another tenant's inserts, commands and mutations of a table detached and attached again by an erasure's wait all succeed, once each", { timeout: 120_000 }, () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    // Made without the prompt cleanup settings, so its outdated part stays until the table is attached again.
    yield* w.command("CREATE TABLE shared (tenant String, k UInt64, v UInt64) ENGINE = MergeTree ORDER BY (tenant, k)")
    yield* w.command("INSERT INTO shared VALUES ('acme', 1, 0)")
    yield* w.command("INSERT INTO shared VALUES ('acme', 2, 0)")
    yield* w.command("OPTIMIZE TABLE shared FINAL")
    expect((yield* outdatedParts(["shared"])).length).toBe(1)

    const failures = yield* Ref.make<Array<string>>([])
    const inserted = yield* Ref.make(0)
    const updates = yield* Ref.make(0)
    const failed = (what: string) => (e: unknown) => Ref.update(failures, (f) => [...f, `${what}: ${String((e as Error).message).slice(0, 200)}`])
    // globex: rows inserted one batch after another, a plain ALTER now and then, and mutations watched to their end.
    const inserts = Effect.forever(Effect.gen(function* () {
      const n = yield* Ref.get(inserted)
      yield* w.insert("shared", [{ tenant: "globex", k: 1000 + n, v: 0 }])
      yield* Ref.set(inserted, n + 1)
    }).pipe(Effect.catch(failed("insert"))))
    const commands = Effect.forever(w.command("ALTER TABLE shared MODIFY COMMENT 'globex was here'").pipe(
      Effect.andThen(Effect.sleep("20 millis")), Effect.catch(failed("command"))))
    const mutations = Effect.forever(Effect.gen(function* () {
      const marker = `m_${randomBytes(4).toString("hex")}`
      yield* runMutation("shared", "ALTER TABLE shared UPDATE v = v + 1 WHERE tenant = 'globex' AND k = 1000 AND {marker:String} != ''", marker,
        { params: { marker }, mutation: "globex's update" })
      yield* Ref.update(updates, (n) => n + 1)
    }).pipe(Effect.catch(failed("mutation"))))
    const writers = yield* Effect.forkChild(Effect.all([inserts, commands, mutations], { concurrency: 3 }))
    for (let i = 0; i < 100 && (yield* Ref.get(inserted)) === 0; i++) yield* Effect.sleep("50 millis")
    expect(yield* awaitOldPartsGone(["shared"], 30_000)).toEqual([])
    yield* Fiber.interrupt(writers)

    expect(yield* Ref.get(failures)).toEqual([])
    const n = yield* Ref.get(inserted)
    expect(n).toBeGreaterThan(0)
    const rows = yield* w.query<{ rows: string; keys: string }>(
      "SELECT count() AS rows, uniqExact(k) AS keys FROM shared WHERE tenant = 'globex'")
    // Each insert that succeeded is there once; one interrupted in flight may be there too, once.
    expect(Number(rows[0]!.rows)).toBe(Number(rows[0]!.keys))
    expect(Number(rows[0]!.rows)).toBeGreaterThanOrEqual(n)
    expect(Number(rows[0]!.rows)).toBeLessThanOrEqual(n + 1)
    expect(yield* w.query("SELECT k, v FROM shared WHERE tenant = 'acme' ORDER BY k")).toEqual([{ k: "1", v: "0" }, { k: "2", v: "0" }])
  })))
