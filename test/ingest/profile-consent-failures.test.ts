// How the profile routes (the profile, /events, /identifiers) and the consent route answer a warehouse failure: a value
// the engine could not bind (WarehouseQueryError with `parameter`) is the request's fault, 400 bad_parameter naming it
// without Retry-After (as refuseBadParameter answers on the other routes); another query error stays 500; an outage
// stays 503 with Retry-After. The errors are the real engine's, given to the routes by a warehouse whose reads fail.
import { join } from "node:path"
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { consentRoute } from "../../ingest/consent-route.ts"
import { profileRoute } from "../../ingest/profile-route.ts"
import { Warehouse, type WarehouseShape, WarehouseUnavailable } from "../../warehouse/warehouse.ts"
import { checkResponse, templateOf } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ROUTES: ReadonlyArray<[string, (req: IncomingMessage, warehouse: WarehouseShape) => ReturnType<typeof profileRoute>]> = [
  ["/v1/profiles/user_id%3Aann?tenant=acme", (req, warehouse) => profileRoute(req, { warehouse })],
  ["/v1/profiles/user_id%3Aann/events?tenant=acme", (req, warehouse) => profileRoute(req, { warehouse })],
  ["/v1/profiles/user_id%3Aann/identifiers?tenant=acme", (req, warehouse) => profileRoute(req, { warehouse })],
  ["/v1/consent/user_id%3Aann?tenant=acme", (req, warehouse) => consentRoute(req, { warehouse })],
]

describe("a warehouse failure on the profile and consent routes", () => {
  it("a value the engine could not bind is 400 bad_parameter naming it; another query error 500; an outage 503", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const unbound = yield* warehouse.query("SELECT {limit:UInt32} AS x", { params: { limit: "abc" } }).pipe(Effect.flip)
      expect(unbound).toMatchObject({ _tag: "WarehouseQueryError", parameter: "limit" })
      const unparsed = yield* warehouse.query("SELECT toDate({s:String}) AS x", { params: { s: "zzz" } }).pipe(Effect.flip)
      expect(unparsed).toMatchObject({ _tag: "WarehouseQueryError" })
      const down = new WarehouseUnavailable({ backend: "embedded /x", message: "Memory limit exceeded" })
      const failing = (e: unknown): WarehouseShape => ({ ...warehouse, query: () => Effect.fail(e as WarehouseUnavailable) })
      for (const [path, route] of ROUTES) {
        const answer = (e: unknown) => route({ method: "GET", url: path, headers: {} } as IncomingMessage, failing(e))
        const bad = yield* answer(unbound)
        checkResponse(templateOf(path), "GET", bad.status, bad.body)
        expect(bad, path).toMatchObject({ status: 400, body: { success: false, rule: "bad_parameter", field: "limit" } })
        expect(bad.headers?.["retry-after"], path).toBeUndefined()
        expect((bad.body as { error: string }).error, path).not.toContain("\n")
        const other = yield* answer(unparsed)
        expect(other, path).toMatchObject({ status: 500, body: { rule: "warehouse_query_failed" } })
        const out = yield* answer(down)
        checkResponse(templateOf(path), "GET", out.status, out.body)
        expect(out, path).toMatchObject({ status: 503, body: { rule: "warehouse_unavailable" }, headers: { "retry-after": "5" } })
      }
    })).pipe(Effect.provide(Warehouse.embedded(join(dir, "clickhouse"))))), 120_000)
})
