// API reads (apiReads) run on the embedded engine's reads connection, beside the pipeline's: the engine runs one
// statement per connection at a time, and before, every landing and every read shared one connection. Seen probing
// cdp serve: while one tenant flooded and read heavily, another tenant's one-message batch waited 16-19 s, and profile
// reads' p99 rose from about 14 ms to 78 ms while batches landed.
import { Effect, Fiber } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { apiReads, backgroundReads, Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"
import { holding, holdSql } from "../support/held-connection.ts"
import { connectionWaits } from "../support/connection-waits.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

it("an API read is answered while a slow statement holds the pipeline's connection", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    yield* w.command("CREATE TABLE reads_probe (n UInt64) ENGINE = MergeTree ORDER BY n")
    yield* w.insert("reads_probe", [{ n: 1 }])
    // Unbounded, so on the pipeline's connection: the engine's sleep.
    const slow = yield* holding(w.query(holdSql()))
    const rows = yield* apiReads(w.query<{ n: string }>("SELECT n FROM reads_probe"))
    // Before: it waited for the rest of the sleep.
    const answeredWhileHeld = slow.stillHeld()
    yield* slow.ended
    expect(rows).toEqual([{ n: "1" }])
    expect(answeredWhileHeld, "the read was answered only once the pipeline's statement had ended").toBe(true)
  })), 60_000)

// chDB takes every statement with parameters in one turn for the whole process, whatever its connection; nearly all
// of the product's statements have parameters, so before warehouse/inline-params.ts a profile read waited behind a
// document build's or an audience refresh's statement as if they shared a connection.
it("a read with parameters is answered while a slow statement with parameters runs on another connection", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    yield* w.command("CREATE TABLE reads_params (tenant String, n UInt64) ENGINE = MergeTree ORDER BY (tenant, n)")
    yield* w.insert("reads_params", [{ tenant: "acme", n: 1 }, { tenant: "globex", n: 2 }])
    for (const [name, where] of [["background work's", backgroundReads], ["pipeline's", <A, E, R>(e: Effect.Effect<A, E, R>) => e]] as const) {
      const slow = yield* holding(where(w.query(holdSql("{tenant:String} = 'acme' AND {n:UInt64} = 1"), {
        params: { tenant: "acme", n: 1 },
      })))
      const rows = yield* apiReads(w.query<{ n: string }>("SELECT n FROM reads_params WHERE tenant = {tenant:String} AND n IN {ns:Array(UInt64)}", {
        params: { tenant: "globex", ns: [2, 3] },
      }))
      // Before: it waited for the rest of the sleep.
      const answeredWhileHeld = slow.stillHeld()
      yield* slow.ended
      expect(rows, name).toEqual([{ n: "2" }])
      expect(answeredWhileHeld, `${name}: the read was answered only once the slow statement had ended`).toBe(true)
    }
  })), 60_000)

it("an API read sees at once what an insert or a command on the pipeline's connection landed before it", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    yield* w.command("CREATE TABLE reads_seen (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
    for (let i = 1; i <= 20; i++) {
      yield* w.insert("reads_seen", [{ n: i, s: `i${i}` }])
      const [seen] = yield* apiReads(w.query<{ c: string; top: string }>("SELECT count() AS c, max(n) AS top FROM reads_seen"))
      expect(seen).toEqual({ c: String(i), top: String(i) })
    }
    yield* w.command("INSERT INTO reads_seen SELECT number + 100, 'x' FROM numbers(5)")
    expect(yield* apiReads(w.query<{ c: string }>("SELECT count() AS c FROM reads_seen WHERE s = {s:String}", { params: { s: "x" } })))
      .toEqual([{ c: "5" }])
    yield* w.command("ALTER TABLE reads_seen DELETE WHERE s = 'x' SETTINGS mutations_sync = 2")
    expect(yield* apiReads(w.query<{ c: string }>("SELECT count() AS c FROM reads_seen"))).toEqual([{ c: "20" }])
  })), 60_000)

it("an API read's bad parameter is named, and reads while many rows land wait far less than the landing", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    const bad = yield* Effect.result(apiReads(w.query("SELECT {n:UInt8} AS n", { params: { n: "not a number" } })))
    expect(bad._tag === "Failure" ? (bad.failure as { _tag: string; parameter?: string }).parameter : undefined).toBe("n")
    yield* w.command("CREATE TABLE reads_many (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
    const rows = Array.from({ length: 300_000 }, (_, n) => ({ n, s: `row ${n} ${"x".repeat(40)}` }))
    // Small reads one after another while the rows land: the longest wait for the reads connection is what a reader sees
    // at worst. Not their whole time, which also holds the event loop's stalls (the rows are serialised on it): a whole
    // time of 287 ms beside an insert of 615 ms failed a bound of a third of the insert at load 11 on 2 cores.
    const { took, longest } = yield* connectionWaits(w.insert("reads_many", rows), apiReads(w.query("SELECT 1 AS one")))
    expect(yield* apiReads(w.query<{ c: string }>("SELECT count() AS c FROM reads_many"))).toEqual([{ c: "300000" }])
    // Before: the longest waited for the engine's insert (440 of 991 ms; for its connection, 201 of 501 and 242 of 675
    // ms at load 10). Now 96 of 1,379 ms.
    expect(longest, `a read waited ${Math.round(longest)} ms for its connection beside an insert of ${Math.round(took)} ms`).toBeLessThan(took / 5)
  })), 60_000)

it("the reads connection closes with its warehouse: a warehouse on another data dir opens after it in the same process", async () => {
  await withEmbeddedWarehouse(dir, Effect.gen(function* () {
    expect(yield* apiReads((yield* Warehouse).query<{ one: number }>("SELECT 1 AS one"))).toEqual([{ one: 1 }])
  }))
  const other = freshDir()
  try {
    await withEmbeddedWarehouse(other, Effect.gen(function* () {
      const w = yield* Warehouse
      yield* w.command("CREATE TABLE reads_other (n UInt64) ENGINE = MergeTree ORDER BY n")
      yield* w.insert("reads_other", [{ n: 5 }])
      expect(yield* apiReads(w.query<{ n: string }>("SELECT n FROM reads_other"))).toEqual([{ n: "5" }])
    }))
  } finally {
    removeDir(other)
  }
}, 60_000)
