// While the warehouse cannot be reached (a ClickHouse server down, a connection lost past its retries), every route
// answers 503 `warehouse_unavailable` with Retry-After, so that a client or a CRM's sync tries again later; any other
// failure no case of a route covers is a 500 naming the route's rule. The warehouse here is a stand-in whose every call
// fails as the server backend does when its connection is gone (the mapping is what is tested, not the engine).
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { queryRoute, refuseFailure, warehouseUnavailable } from "../../ingest/query-route.ts"
import { WarehouseUnavailable, type WarehouseShape } from "../../warehouse/warehouse.ts"

const down = new WarehouseUnavailable({ backend: "server http://127.0.0.1:1", message: "connect ECONNREFUSED 127.0.0.1:1" })

describe("warehouse unavailable", () => {
  it("is 503 with Retry-After, its message kept; another failure is 500 with the route's rule", () => {
    expect(refuseFailure(down, "export_failed")).toEqual({
      status: 503,
      body: { success: false, error: "connect ECONNREFUSED 127.0.0.1:1", rule: "warehouse_unavailable" },
      headers: { "retry-after": "5" },
    })
    expect(warehouseUnavailable()).toMatchObject({ status: 503, body: { error: "the warehouse is unavailable" } })
    expect(refuseFailure(new Error("boom"), "export_failed")).toEqual({ status: 500, body: { success: false, error: "boom", rule: "export_failed" } })
  })

  it("POST /v1/query answers it with Retry-After too", async () => {
    const warehouse = { analystQuery: () => Effect.fail(down) } as unknown as WarehouseShape
    const route = queryRoute({ warehouse })
    const server = createServer((req: IncomingMessage, res) => {
      void Effect.runPromise(route(req)).then((reply) => {
        res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers })
        res.end(JSON.stringify(reply.body))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const { port } = server.address() as AddressInfo
      const res = await fetch(`http://127.0.0.1:${port}/v1/query`, { method: "POST", body: JSON.stringify({ sql: "SELECT 1" }) })
      expect(res.status).toBe(503)
      expect(res.headers.get("retry-after")).toBe("5")
      expect(await res.json()).toMatchObject({ rule: "warehouse_unavailable", error: "connect ECONNREFUSED 127.0.0.1:1" })
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
