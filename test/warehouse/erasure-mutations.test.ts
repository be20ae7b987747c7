// An erasure's mutations (ALTER TABLE ... DELETE / UPDATE) must not hold the embedded engine while they rewrite parts:
// a small read meanwhile answers at once. A mutation that fails, runs too long or is left by an interrupted erasure
// is killed, before the scratch tables it reads are dropped, so no later mutation of the table is blocked behind it.
import { Effect, Exit, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { eraseRows, findRows, runMutation, type SubjectKeys, type TableLocator } from "../../warehouse/erasure.ts"
import { shredDataKeys } from "../../warehouse/bus-keys.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { mutationRunning, readsMeanwhile, unfinished } from "../support/mutations.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const PARTS = 6
const PART_ROWS = 50_000
/** In each part, the row at this offset is the subject's. */
const SUBJECT_AT = 7

const locator: TableLocator = { table: "big", messageId: "message_id", profileIds: ["profile_id"], needleMatch: "delete" }
const subject: SubjectKeys = {
  tenant: "acme",
  messageIds: Array.from({ length: PARTS }, (_, i) => `m-${i * PART_ROWS + SUBJECT_AT}`),
  profileIds: ["p-subject"],
  needles: [],
}

/** 300,000 rows in PARTS parts (one insert each), with one row of the subject in every part. */
const bigTable = Effect.gen(function* () {
  const w = yield* Warehouse
  yield* w.command(
    "CREATE TABLE big (tenant String, message_id String, profile_id String, body String, n UInt64) ENGINE = MergeTree ORDER BY (tenant, message_id)")
  for (let i = 0; i < PARTS; i++) {
    yield* w.command(
      "INSERT INTO big SELECT 'acme', concat('m-', toString(number)), " +
        `if(number % ${PART_ROWS} = ${SUBJECT_AT}, 'p-subject', concat('p-', toString(number % 1000))), ` +
        // Text that compresses little, as messages' do: the mutation rewrites every part, for a while.
        "arrayStringConcat(arrayMap(i -> hex(sipHash128(number, i)), range(8)), ' '), number " +
        `FROM numbers(${i * PART_ROWS}, ${PART_ROWS})`)
  }
})

const counts = Effect.gen(function* () {
  const w = yield* Warehouse
  const [c] = yield* w.query<{ mine: string; others: string }>(
    "SELECT countIf(profile_id = 'p-subject') AS mine, countIf(profile_id != 'p-subject') AS others FROM big")
  return { mine: Number(c!.mine), others: Number(c!.others) }
})

const scratchTables = Effect.gen(function* () {
  const w = yield* Warehouse
  return yield* w.query<{ name: string }>("SELECT name FROM system.tables WHERE database = currentDatabase() AND startsWith(name, '_erasure_')")
})

describe("an erasure's mutations on the embedded engine", () => {
  it("leave none of the subject's rows, keep everyone else's, and let a small read answer meanwhile", { timeout: 60_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      yield* bigTable
      const found = yield* findRows(locator, subject)
      expect(found.mine.length).toBe(PARTS)
      const { result: erased, took, longest } = yield* readsMeanwhile(eraseRows(locator, found, []))
      expect(erased.deleted).toBe(PARTS)
      expect(yield* counts).toEqual({ mine: 0, others: PARTS * PART_ROWS - PARTS })
      expect(longest).toBeLessThan(took / 2)
      expect(yield* unfinished("big")).toEqual([])
      expect(yield* scratchTables).toEqual([])
    })))

  it("shredding a person's Kafka data keys lets a small read answer meanwhile", { timeout: 60_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      // 600,000 person keys in one part (what a busy Kafka deployment holds); the shredded one is in it.
      yield* w.command(
        "INSERT INTO bus_data_keys SELECT concat('k-', toString(number)), hex(sipHash64(number)), 'acme', " +
          "concat(hex(sipHash128(number, 1)), hex(sipHash128(number, 2)), hex(sipHash128(number, 3))), now64(3) FROM numbers(600000)")
      const probe = yield* readsMeanwhile(shredDataKeys("acme", ["k-1234"]))
      expect(probe.result).toEqual({ keyIds: ["k-1234"], keys: 1 })
      const [left] = yield* w.query<{ n: string }>("SELECT count() AS n FROM bus_data_keys WHERE key_id = 'k-1234' AND dk != ''")
      expect(Number(left!.n)).toBe(0)
      expect(probe.longest).toBeLessThan(probe.took / 2)
      expect(yield* unfinished("bus_data_keys")).toEqual([])
      expect(yield* scratchTables).toEqual([])
    })))

  it("interrupted while its mutation runs, leaves no mutation unfinished or failing, and a later erasure works", { timeout: 60_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      yield* bigTable
      const found = yield* findRows(locator, subject)
      const erasure = yield* Effect.forkChild(eraseRows(locator, found, []))
      // Interrupted as soon as its mutation is listed as running.
      expect(yield* mutationRunning("big")).toBe(true)
      yield* Fiber.interrupt(erasure)
      const exit = yield* Fiber.await(erasure)
      expect(Exit.hasInterrupts(exit)).toBe(true)
      expect(yield* unfinished("big")).toEqual([])
      expect(yield* scratchTables).toEqual([])
      // A mutation left running would fail for good once its scratch tables are gone: none appears later either.
      yield* Effect.sleep("1500 millis")
      expect(yield* unfinished("big")).toEqual([])
      const again = yield* findRows(locator, subject)
      yield* eraseRows(locator, again, [])
      expect(yield* counts).toEqual({ mine: 0, others: PARTS * PART_ROWS - PARTS })
      expect(yield* unfinished("big")).toEqual([])
    })))

  it("a mutation that fails is killed and fails the erasure naming the table", { timeout: 60_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      yield* w.command("CREATE TABLE small (k String, n UInt32) ENGINE = MergeTree ORDER BY k")
      yield* w.command("INSERT INTO small VALUES ('a', 1), ('b', 2)")
      // Accepted when it is created, failing on every row when it runs.
      const failure = yield* runMutation("small", "ALTER TABLE small UPDATE n = toUInt32(concat('x', k)) WHERE k != '_erasure_marker1'", "_erasure_marker1")
        .pipe(Effect.flip)
      expect(failure._tag).toBe("ErasureMutationFailed")
      // The engine's reason, without the value it quotes.
      expect(failure.message).toMatch(/^the erasure's mutation of table small failed and was stopped: Cannot parse string '…' as UInt32.* \(CANNOT_PARSE_TEXT\)$/)
      expect(failure.message).not.toContain("xa")
      expect(yield* unfinished("small")).toEqual([])
      // The table takes mutations again.
      yield* runMutation("small", "ALTER TABLE small DELETE WHERE k = 'a' AND k != '_erasure_marker2'", "_erasure_marker2")
      expect(yield* w.query("SELECT k FROM small")).toEqual([{ k: "b" }])
    })))

  it("a mutation behind another mutation of the table that fails is stopped at once, naming that one", { timeout: 60_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      yield* w.command("CREATE TABLE small (k String, n UInt32) ENGINE = MergeTree ORDER BY k")
      yield* w.command("INSERT INTO small VALUES ('a', 1), ('b', 2)")
      // Not the erasure's: left failing by someone else (a synchronous mutation that failed stays, and fails again).
      yield* w.command("ALTER TABLE small UPDATE n = toUInt32(concat('x', k)) WHERE 1 SETTINGS mutations_sync = 0")
      // Stopped for that mutation, told by the message rather than by this machine's clock: one that did not look at the
      // table's other mutations fails on its own mutation's failure, or at its 20 s deadline, either way not naming it.
      const failure = yield* runMutation("small", "ALTER TABLE small DELETE WHERE k = 'a' AND k != '_erasure_marker4'", "_erasure_marker4", { timeoutMs: 20_000 })
        .pipe(Effect.flip)
      expect(failure.message).toMatch(
        /^the erasure's mutation of table small cannot run while mutation_\d+\.txt of the table fails: Cannot parse string '…' as UInt32.*\(CANNOT_PARSE_TEXT\); it was stopped \(KILL MUTATION WHERE table = 'small' AND mutation_id = 'mutation_\d+\.txt' lets the table's mutations run again\)$/)
      const left = yield* unfinished("small")
      // Only the other one is left; the erasure's was killed.
      expect(left.length).toBe(1)
      expect(failure.message).toContain(left[0]!.mutation_id)
    })))

  it("a mutation not done in its time is killed and fails the erasure saying so", { timeout: 60_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      yield* bigTable
      const failure = yield* runMutation("big", "ALTER TABLE big DELETE WHERE profile_id = 'p-subject' AND message_id != '_erasure_marker3'", "_erasure_marker3", { timeoutMs: 1 })
        .pipe(Effect.flip)
      expect(failure._tag).toBe("ErasureMutationFailed")
      expect(failure.message).toMatch(/^the erasure's mutation of table big was not done after 0\.001 s/)
      expect(yield* unfinished("big")).toEqual([])
    })))
})
