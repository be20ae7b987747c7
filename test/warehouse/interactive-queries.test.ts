// What a user asks interactively (a statement given maxExecutionSeconds: audience and trait previews) must not hold
// the embedded engine's connection, on which the pipeline lands every tenant's messages and every other read runs one
// statement at a time. Seen probing cdp serve: tenant acme posting 20 audience previews at once (POST
// /v1/audiences/preview, an "or" of 199 event, trait, sentiment and channel leaves, sample 1000; about 2 s each) made
// tenant globex's one-message POST /v1/batch answer 503 backend_timeout after 30,192 ms, and its GET
// /v1/profiles/{id}, audience preview and GET /v1/dead-letters take 35.3-35.6 s.
import { Effect, Fiber } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const SLOW = "SELECT count() AS n FROM numbers(100000000000) WHERE sipHash64(number) = 1"

it("a bounded interactive query runs beside the warehouse's other statements, not before them", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    yield* w.command("CREATE TABLE side_probe (n UInt64) ENGINE = MergeTree ORDER BY n")
    const started = performance.now()
    const slow = yield* Effect.forkChild(Effect.result(w.query(SLOW, { maxExecutionSeconds: 4 })))
    yield* Effect.sleep("300 millis")
    const other = performance.now()
    yield* w.insert("side_probe", [{ n: 1 }])
    const rows = yield* w.query<{ n: string }>("SELECT n FROM side_probe")
    const waited = performance.now() - other
    const result = yield* Fiber.join(slow)
    // It still stops at its own limit, as before (code 159, which the routes answer 422).
    expect(result._tag).toBe("Failure")
    expect(result._tag === "Failure" ? (result.failure as { code?: string }).code : undefined).toBe("159")
    expect(performance.now() - started).toBeGreaterThan(3_500)
    expect(rows).toEqual([{ n: "1" }])
    // Before: the insert and the read waited for the slow statement's 4 s.
    expect(waited).toBeLessThan(2_000)
  })), 60_000)

it("a bounded interactive query sees what was written before it and binds its parameters", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    yield* w.command("CREATE TABLE side_probe (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
    yield* w.insert("side_probe", [{ n: 7, s: "x" }, { n: 8, s: "y" }])
    const rows = yield* w.query<{ n: string; s: string }>("SELECT n, s FROM side_probe WHERE s = {s:String}", { params: { s: "y" }, maxExecutionSeconds: 5 })
    expect(rows).toEqual([{ n: "8", s: "y" }])
    const bad = yield* Effect.result(w.query("SELECT {n:UInt8} AS n", { params: { n: "not a number" }, maxExecutionSeconds: 5 }))
    expect(bad._tag === "Failure" ? (bad.failure as { _tag: string; parameter?: string }).parameter : undefined).toBe("n")
  })), 60_000)
