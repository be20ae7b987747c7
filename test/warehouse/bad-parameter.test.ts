// A value the engine cannot read as its parameter's type (a number that is no number, a time that is no time) is the
// request's fault, not an outage: the warehouse fails with WarehouseQueryError naming the parameter, and an HTTP route
// answers 400 `bad_parameter`, never 503 "retry", which a client would repeat for ever. A real outage stays 503.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { refuseFailure } from "../../ingest/query-route.ts"
import { Warehouse, WarehouseUnavailable } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const failureOf = (sql: string, params: Record<string, unknown>) =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const warehouse = yield* Warehouse
    return yield* warehouse.query(sql, { params }).pipe(Effect.flip)
  }))

describe("a value the engine cannot bind", () => {
  it("is a WarehouseQueryError naming the parameter, answered 400 bad_parameter", async () => {
    const cases: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
      ["SELECT {limit:UInt32} AS x", { limit: "abc" }, "limit"],
      ["SELECT {limit:UInt32} AS x", { limit: -5 }, "limit"],
      ["SELECT {since:DateTime64(3, 'UTC')} AS x", { since: "garbage" }, "since"],
      ["SELECT {id:UUID} AS x", { id: "nope" }, "id"],
      ["SELECT {ids:Array(String)} AS x", { ids: "[1" }, "ids"],
    ]
    for (const [sql, params, name] of cases) {
      const e = await failureOf(sql, params)
      expect(e._tag, sql).toBe("WarehouseQueryError")
      expect((e as { parameter?: string }).parameter, sql).toBe(name)
      const reply = refuseFailure(e, "preview_failed")
      expect(reply.status, sql).toBe(400)
      expect(reply.headers?.["retry-after"]).toBeUndefined()
      expect(reply.body).toMatchObject({ success: false, rule: "bad_parameter", field: name })
      const message = (reply.body as { error: string }).error
      expect(message).toContain(name)
      expect(message).not.toContain("\n")
    }
  })

  it("a value the engine cannot parse outside a binding is no outage either", async () => {
    const e = await failureOf("SELECT toDate({s:String}) AS x", { s: "zzz" })
    expect(e._tag).toBe("WarehouseQueryError")
    expect(refuseFailure(e, "preview_failed").status).toBe(500)
  })

  it("an outage stays 503 with Retry-After", () => {
    const down = new WarehouseUnavailable({ backend: "embedded /x", message: "Memory limit exceeded" })
    expect(refuseFailure(down, "preview_failed")).toMatchObject({ status: 503, headers: { "retry-after": "5" } })
  })
})
