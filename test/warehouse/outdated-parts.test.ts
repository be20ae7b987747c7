// An erasure waits until no outdated part that may hold the subject's old rows is left on disk (warehouse/erasure.ts
// awaitOldPartsGone). Parts that go outdated after the wait began (merges of parts written after the erasure's
// mutations) hold nothing of the subject: a table that keeps taking rows must not make the wait fail.
import { Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { awaitOldPartsGone, outdatedParts, PROMPT_CLEANUP_SETTINGS } from "../../warehouse/erasure.ts"
import { backgroundReads, detachmentMark, detachmentSince, Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** A table (with `settings`, when given) holding one outdated part: two inserts merged, as a merge leaves them. */
const withOutdatedPart = (table: string, settings?: string) => Effect.gen(function* () {
  const w = yield* Warehouse
  yield* w.command(`CREATE TABLE ${table} (k UInt64, v String) ENGINE = MergeTree ORDER BY k${settings === undefined ? "" : ` SETTINGS ${settings}`}`)
  yield* w.command(`INSERT INTO ${table} VALUES (1, 'before')`)
  yield* w.command(`INSERT INTO ${table} VALUES (2, 'before')`)
  yield* w.command(`OPTIMIZE TABLE ${table} FINAL`)
  expect((yield* outdatedParts([table])).length).toBe(1)
  return w
})

describe("awaiting outdated parts", () => {
  it("waits for the parts outdated when it began, not for those a table taking rows makes meanwhile", { timeout: 60_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      // A merge whose parts are outdated before the wait begins: these may hold what was erased.
      const w = yield* withOutdatedPart("churn", PROMPT_CLEANUP_SETTINGS)
      // Meanwhile the table keeps taking rows, each insert merged away at once: new outdated parts all the time.
      const writer = yield* Effect.forkChild(Effect.forever(Effect.gen(function* () {
        yield* w.command("INSERT INTO churn VALUES (3, 'after')")
        yield* w.command("OPTIMIZE TABLE churn FINAL")
      }).pipe(Effect.ignore)))
      const left = yield* awaitOldPartsGone(["churn"], 8_000)
      yield* Fiber.interrupt(writer)
      expect(left).toEqual([])
    })))

  // The engine's task that removes outdated parts sleeps longer and longer while a table is idle (up to
  // max_cleanup_delay_period, 300 s by default): an erasure on a table idle that long found them still there and
  // detached and attached it, which every other statement on it (any tenant's) meets. With the prompt cleanup settings
  // the task wakes every second, so the wait ends without detaching anything.
  it("a table with the prompt cleanup settings, idle long enough for the cleanup to back off, is waited for without detaching it", { timeout: 90_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      yield* w.command(`CREATE TABLE idle (k UInt64, v String) ENGINE = MergeTree ORDER BY k SETTINGS ${PROMPT_CLEANUP_SETTINGS}`)
      yield* w.command("INSERT INTO idle VALUES (1, 'before')")
      yield* Effect.sleep("20 seconds")
      yield* w.command("INSERT INTO idle VALUES (2, 'before')")
      yield* w.command("ALTER TABLE idle DELETE WHERE k = 1 SETTINGS mutations_sync = 2")
      expect((yield* outdatedParts(["idle"])).length).toBe(1)
      const mark = detachmentMark()
      expect(yield* awaitOldPartsGone(["idle"], 30_000)).toEqual([])
      expect(detachmentSince(mark)).toBe(false)
      expect(yield* w.query("SELECT k, v FROM idle ORDER BY k")).toEqual([{ k: "2", v: "before" }])
    })))

  // Seen under load in ingest/destinations' erasure case: export_deliveries (made after migration 025, so without its
  // settings) merged the delivery log's parts before the erasure's wait began, and their outdated parts stay on disk
  // old_parts_lifetime (480 s by default): detaching and attaching the table kept them, and the erasure failed after
  // 60 s with ErasureIncomplete 'export_deliveries (outdated parts still on disk)'.
  it("a table made without the prompt cleanup settings is waited for as one with them", { timeout: 60_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* withOutdatedPart("log")
      expect(yield* awaitOldPartsGone(["log"], 8_000)).toEqual([])
      expect(yield* outdatedParts(["log"])).toEqual([])
      expect(yield* w.query("SELECT k, v FROM log ORDER BY k")).toEqual([{ k: "1", v: "before" }, { k: "2", v: "before" }])
    })))

  // Seen probing cdp serve (profile documents' builds read identity_observations on the background connection while an
  // erasure waited): ATTACH failed with 'Cannot attach table ... because it was detached but still used by some
  // query', the table stayed detached, and every landing failed after it.
  it("a table another connection is reading while it is detached is attached again, never left detached", { timeout: 60_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* withOutdatedPart("held")
      // Slow reads on another connection, one after another, for as long as the wait lasts.
      const reader = yield* Effect.forkChild(Effect.forever(
        backgroundReads(w.query("SELECT count() AS n FROM held WHERE sleepEachRow(1) = 0")).pipe(Effect.ignore)))
      yield* Effect.sleep("300 millis")
      const left = yield* awaitOldPartsGone(["held"], 30_000)
      yield* Fiber.interrupt(reader)
      expect(left).toEqual([])
      expect(yield* w.query("SELECT k, v FROM held ORDER BY k")).toEqual([{ k: "1", v: "before" }, { k: "2", v: "before" }])
    })))
})
