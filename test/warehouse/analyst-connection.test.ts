// An analyst query (cdp query, POST /v1/query) neither waits for the pipeline's connection nor holds it. Seen probing
// cdp serve: while tenant acme's portability request ran its statements on the pipeline's connection, tenant default's
// `SELECT 1` waited more than 2 minutes, holding one of the two analyst turns all the while: the statement's checks
// (its parse, its AST, the tables to filter) ran on that connection, behind every tenant's landing and requests.
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"
import { holding, holdSql } from "../support/held-connection.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

it("an analyst query is answered while a slow statement holds the pipeline's connection, and sees what landed", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    yield* w.command("CREATE TABLE analyst_probe (tenant String, n UInt64) ENGINE = MergeTree ORDER BY n")
    yield* w.insert("analyst_probe", [{ tenant: "acme", n: 1 }, { tenant: "globex", n: 2 }])
    // Unbounded, so on the pipeline's connection, as a landing batch's or a data-subject request's statements are.
    const slow = yield* holding(w.query(holdSql()))
    const rows = yield* w.analystQuery<{ n: string }>("SELECT n FROM analyst_probe", { tenant: "globex" })
    // Before: its checks waited for the rest of the sleep.
    const answeredWhileHeld = slow.stillHeld()
    yield* slow.ended
    expect(rows).toEqual([{ n: "2" }])
    expect(answeredWhileHeld, "the analyst query was answered only once the pipeline's statement had ended").toBe(true)
  })), 60_000)

it("a refused analyst statement is refused while a slow statement holds the pipeline's connection", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    const slow = yield* holding(w.query(holdSql()))
    const refused = yield* Effect.flip(w.analystQuery("SELECT * FROM file('/etc/passwd')", { tenant: "acme" }))
    const answeredWhileHeld = slow.stillHeld()
    yield* slow.ended
    expect(refused).toMatchObject({ _tag: "WarehouseQueryError" })
    expect(refused.message).toContain("table function file() is not allowed")
    expect(answeredWhileHeld, "the refusal came only once the pipeline's statement had ended").toBe(true)
  })), 60_000)
