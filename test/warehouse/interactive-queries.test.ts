// What a user asks interactively (a statement given maxExecutionSeconds: audience and trait previews) must not hold
// the embedded engine's connection, on which the pipeline lands every tenant's messages and every other read runs one
// statement at a time. Seen probing cdp serve: tenant acme posting 20 audience previews at once (POST
// /v1/audiences/preview, an "or" of 199 event, trait, sentiment and channel leaves, sample 1000; about 2 s each) made
// tenant globex's one-message POST /v1/batch answer 503 backend_timeout after 30,192 ms, and its GET
// /v1/profiles/{id}, audience preview and GET /v1/dead-letters take 35.3-35.6 s.
import { Effect, Fiber } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { interactiveTurn, Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"
import { holding } from "../support/held-connection.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const SLOW = "SELECT count() AS n FROM numbers(100000000000) WHERE sipHash64(number) = 1"

it("a bounded interactive query runs beside the warehouse's other statements, not before them", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    yield* w.command("CREATE TABLE side_probe (n UInt64) ENGINE = MergeTree ORDER BY n")
    const started = performance.now()
    const slow = yield* holding(Effect.result(w.query(SLOW, { maxExecutionSeconds: 4 })))
    yield* w.insert("side_probe", [{ n: 1 }])
    const rows = yield* w.query<{ n: string }>("SELECT n FROM side_probe")
    // Before: the insert and the read waited for the slow statement's 4 s, so they ended after it.
    const answeredWhileRunning = slow.stillHeld()
    const result = yield* slow.ended
    // It still stops at its own limit, as before (code 159, which the routes answer 422).
    expect(result._tag).toBe("Failure")
    expect(result._tag === "Failure" ? (result.failure as { code?: string }).code : undefined).toBe("159")
    expect(performance.now() - started).toBeGreaterThan(3_500)
    expect(rows).toEqual([{ n: "1" }])
    expect(answeredWhileRunning, "the insert and the read ended only after the interactive query").toBe(true)
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

it("bounded interactive queries take turns: one of a tenant at once and two in all, another refused QueryBusy at once", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    const slow = (tenant: string) => Effect.result(interactiveTurn(tenant)(w.query(SLOW, { maxExecutionSeconds: 3 })))
    const first = yield* Effect.forkChild(slow("acme"))
    yield* Effect.sleep("200 millis")
    const again = yield* Effect.result(interactiveTurn("acme")(w.query("SELECT 1 AS n", { maxExecutionSeconds: 3 })))
    expect(again._tag === "Failure" ? again.failure : undefined).toMatchObject({
      _tag: "QueryBusy", message: "tenant acme already has 1 preview running (the limit per tenant); retry when it finishes",
    })
    const other = yield* Effect.forkChild(slow("globex"))
    yield* Effect.sleep("200 millis")
    const third = yield* Effect.result(interactiveTurn("initech")(w.query("SELECT 1 AS n", { maxExecutionSeconds: 3 })))
    expect(third._tag === "Failure" ? third.failure : undefined).toMatchObject({
      _tag: "QueryBusy", message: "2 previews are already running (the limit); retry when one finishes",
    })
    yield* Fiber.join(first)
    yield* Fiber.join(other)
    // Turns are given back when a query ends, stopped at its limit or not.
    expect(yield* interactiveTurn("acme")(w.query<{ n: number }>("SELECT 1 AS n", { maxExecutionSeconds: 3 }))).toEqual([{ n: 1 }])
  })), 60_000)
