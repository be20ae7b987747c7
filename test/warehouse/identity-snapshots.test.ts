// Storing an identity snapshot deletes the older ones (warehouse/identity-snapshots.ts storeSnapshot) with a mutation.
// It must be done when the call returns (no older rows left, nothing unfinished in system.mutations), and one that
// cannot run must not stay in the table, where every later mutation of it waits behind it.
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { loadNewestSnapshot, storeSnapshot } from "../../warehouse/identity-snapshots.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { unfinished } from "../support/mutations.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** A snapshot of 3 chunks (4 MiB each before base64) of bytes that do not compress: the delete rewrites real parts. */
const snapshotAt = (takenAtMs: number) =>
  ({ takenAtMs, coversUntilMs: takenAtMs, fingerprint: "f", bytes: randomBytes(9 * 2 ** 20) })

const storedTimes = Effect.gen(function* () {
  const w = yield* Warehouse
  return (yield* w.query<{ t: string }>("SELECT DISTINCT toUnixTimestamp64Milli(taken_at) AS t FROM identity_snapshots ORDER BY t"))
    .map((r) => Number(r.t))
})

describe("identity snapshots' cleanup", () => {
  it("the older snapshots are gone when storeSnapshot returns, and no mutation of the table is left unfinished", async () => {
    const base = Date.parse("2026-12-01T00:00:00.000Z")
    const result = await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const seen: Array<{ times: ReadonlyArray<number>; unfinished: number }> = []
      for (let i = 0; i < 4; i++) {
        yield* storeSnapshot(snapshotAt(base + i * 1000))
        seen.push({ times: yield* storedTimes, unfinished: (yield* unfinished("identity_snapshots")).length })
      }
      const newest = yield* loadNewestSnapshot()
      return { seen, newest: newest.snapshot?.takenAtMs }
    }))
    expect(result.seen).toEqual([0, 1, 2, 3].map((i) => ({ times: [base + i * 1000], unfinished: 0 })))
    expect(result.newest).toBe(base + 3000)
  }, 60_000)

  it("a cleanup behind another failing mutation of the table fails naming it, as a failed mutation of the table (not an unavailable warehouse), and leaves only that one", async () => {
    const base = Date.parse("2026-12-01T00:00:00.000Z")
    const result = await withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const w = yield* Warehouse
      const first = Date.now()
      yield* storeSnapshot(snapshotAt(base))
      const firstMs = Date.now() - first
      // A mutation that fails on every row (a fingerprint is no number), left failing in the table.
      yield* w.command("ALTER TABLE identity_snapshots UPDATE chunks = toUInt32(fingerprint) WHERE 1 SETTINGS mutations_sync = 0")
      const started = Date.now()
      const failure = yield* storeSnapshot(snapshotAt(base + 1000)).pipe(Effect.flip)
      const left = yield* unfinished("identity_snapshots")
      // Let the table's later mutations run again, as the message says.
      yield* w.command("KILL MUTATION WHERE database = currentDatabase() AND table = 'identity_snapshots' SYNC")
      return { failure, tookMs: Date.now() - started, firstMs, left }
    }))
    expect(result.left.map((m) => m.latest_fail_reason !== "")).toEqual([true])
    // The warehouse answered: the failure is the mutation's, naming it and its table in one line.
    expect(result.failure).toMatchObject({ _tag: "ErasureMutationFailed", table: "identity_snapshots", mutation: "the identity snapshot cleanup's mutation" })
    expect(result.failure.message).not.toContain("\n")
    expect(result.failure.message).toMatch(
      /^the identity snapshot cleanup's mutation of table identity_snapshots cannot run while mutation_\d+\.txt of the table fails: .*; it was stopped/)
    console.log(`the first snapshot stored in ${result.firstMs} ms; the one behind the failing mutation failed after ${result.tookMs} ms`)
    // Stopped at once, not after the engine's retries for minutes (or MUTATION_TIMEOUT_MS, 10 minutes): within a few
    // times what storing the first snapshot (the same insert and a cleanup with nothing to wait for) took in this run,
    // which grows with the machine's load as this does (a fixed 10 s is one a loaded machine could miss by chance).
    expect(result.tookMs, `failed after ${result.tookMs} ms; the first snapshot stored in ${result.firstMs} ms`).toBeLessThan(5 * result.firstMs)
  }, 60_000)
})
